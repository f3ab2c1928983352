import type { Repository } from '../core/repository.ts';
import type { AccessContext } from '../core/types.ts';
import type { SqlParams } from './sql.ts';

/** The parsed form of a FHIR search, independent of SQL. */

/** One search criterion (one query parameter), possibly reaching other resources through chains and `_has`. */
export type Criterion = ValueCriterion | ChainCriterion | HasCriterion | CompartmentCriterion;

/** `code[:modifier]=v1,v2`: the values are ORed. */
export interface ValueCriterion {
  kind: 'value';
  /** The parameter name as the client wrote it, for messages and the self link. */
  name: string;
  code: string;
  modifier?: string;
  values: string[];
}

/** `code[:Type].rest`: resources whose reference `code` points at a resource matching `next`. */
export interface ChainCriterion {
  kind: 'chain';
  name: string;
  code: string;
  targetType?: string;
  next: Criterion;
}

/** `_has:Type:code:rest`: resources referenced (by `code` of a `Type` resource) from a resource matching `next`. */
export interface HasCriterion {
  kind: 'has';
  name: string;
  sourceType: string;
  code: string;
  next: Criterion;
}

/**
 * Membership of a compartment (`Patient/123/Observation`): one of the type's compartment parameters (spec
 * CompartmentDefinition) refers to it, or it is the focal resource itself.
 */
export interface CompartmentCriterion {
  kind: 'compartment';
  compartmentType: string;
  id: string;
}

/** A sort key: `_sort=-date` → { code: 'date', descending: true }. */
export interface SortKey {
  code: string;
  descending: boolean;
}

/** `_include` / `_revinclude` value: `SourceType:code[:TargetType]`, or `*`. */
export interface IncludeSpec {
  sourceType: string;
  /** Undefined for `*` (every reference parameter). */
  code?: string;
  targetType?: string;
  iterate: boolean;
}

/** A keyset position: the sort values and rid of the row a page starts after (or before, going back). */
export interface Cursor {
  direction: 'next' | 'previous';
  values: (string | number | null)[];
  rid: number;
}

export type TotalMode = 'none' | 'estimate' | 'accurate';

/** A whole search request. */
export interface SearchRequest {
  /** One type for a type search; several (or all) for a system search. */
  resourceTypes: string[];
  criteria: Criterion[];
  sort: SortKey[];
  count: number;
  total?: TotalMode;
  summary?: 'true' | 'text' | 'data' | 'count' | 'false';
  elements?: string[];
  includes: IncludeSpec[];
  revincludes: IncludeSpec[];
  cursor?: Cursor;
  /** `_contained`: search contained resources only (`true`) or as well (`both`); absent: not at all. */
  contained?: 'true' | 'both';
  /** `_containedType`: return the containers rather than the contained resources. */
  containedType?: 'container' | 'contained';
  /** The parameters actually used, in order, to echo in the self link. */
  used: [name: string, value: string][];
  /** Problems ignored under lenient handling, reported in the Bundle's OperationOutcome. */
  warnings: string[];
}

/** A resource row a search returns. */
export interface FoundResource {
  rid: number;
  resourceType: string;
  id: string;
  content: string;
  /** `Type/id` of the container, for a contained resource. */
  container?: string | null;
}

/** Who searches, against which store. */
export interface SearchScope {
  repo: Repository;
  baseUrl: string;
  access?: AccessContext;
}

/** What building the SQL of a search needs. */
export interface WhereContext {
  sql: SqlParams;
  baseUrl: string;
  repo: Repository;
  /** Undefined: no restriction. */
  access?: AccessContext;
  /** True while building the access criteria themselves (they are the server's own, not filtered again). */
  trusted?: boolean;
}
