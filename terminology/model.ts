import type { CodeSystem, CodeSystemConceptProperty, Coding } from '@medplum/fhirtypes';

/** A designation of a concept (another display, in a language or for a use). */
export interface Designation {
  language?: string;
  use?: Coding;
  value: string;
}

/** One concept of a code system, flattened out of its hierarchy; ordinals are positions in the system. */
export interface FlatConcept {
  ord: number;
  code: string;
  display?: string;
  definition?: string;
  inactive: boolean;
  /** `notSelectable`: a grouping concept that is not for use in data. */
  abstract: boolean;
  /** Ordinals of the direct parents (nesting, `parent` and `subsumedBy` properties). */
  parents: number[];
  /** Ordinals of every ancestor, the concept itself included: the transitive closure of is-a. */
  ancestors: number[];
  /** Property values as text (`code`, `Coding.code`, numbers, booleans), for filters. */
  props: Record<string, string[]>;
  designations?: Designation[];
  properties?: CodeSystemConceptProperty[];
}

/** A concept in an expansion or a membership answer. */
export interface ConceptRow {
  system: string;
  version?: string;
  code: string;
  display?: string;
  inactive?: boolean;
  abstract?: boolean;
  designations?: Designation[];
  /** Order in the expansion (include index, then position in the system). */
  seq: number;
}

/** A code system's header: the CodeSystem resource without its concepts. */
export type CodeSystemHeader = Omit<CodeSystem, 'concept'>;

/** A ValueSet compose filter. */
export interface FilterSpec {
  property: string;
  op: string;
  value: string;
}

/** Something that runs SQL: a pg Pool or client, or a Repository (which flushes its buffered writes first). */
export interface Queryable {
  query<R extends object>(sql: string, params: unknown[]): Promise<{ rows: R[] }>;
}

/** Collects bind parameters for generated SQL (server/search's SqlParams fits). */
export interface Params {
  add(value: unknown, cast?: string): string;
}

/** A standalone Params for statements terminology runs itself. */
export class OwnParams implements Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}

/** The code system of UCUM, whose codes are unit expressions (validated by @lhncbc/ucum-lhc, not listed). */
export const UCUM_SYSTEM = 'http://unitsofmeasure.org';
