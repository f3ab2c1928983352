import type { ValueSet } from '@medplum/fhirtypes';
import { badRequest } from '../server/fhir/outcomes.ts';
import type { Params, Queryable } from './model.ts';
import { resolveCodeSystem, resolveResource } from './resolve.ts';
import { compileValueSet } from './valueset/compose.ts';
import { PART_COLUMNS, type Part } from './valueset/parts.ts';

/**
 * The concepts a search modifier stands for, in the form search SQL wants: small sets in memory as codes per system,
 * systems included whole (but not held here) by URL, and sets in the terminology store as a SQL subquery (selecting
 * `system, code`) that search embeds with its own bind parameters, so large is-a sets are joined, not listed.
 */
export interface SearchConcepts {
  codes: Map<string, string[]>;
  wholeSystems: string[];
  sql?: (p: Params) => string;
}

function fromPart(part: Part, wholeSystems: string[] = []): SearchConcepts {
  const codes = new Map<string, string[]>();
  if ('rows' in part) for (const r of part.rows) codes.set(r.system, [...(codes.get(r.system) ?? []), r.code]);
  return {
    codes,
    wholeSystems,
    sql: 'sql' in part ? (p) => `SELECT ${PART_COLUMNS} FROM (${part.sql(p)}) s` : undefined,
  };
}

/** The concepts of the ValueSet a canonical URL names (`:in`, `:not-in`). */
export async function valueSetConcepts(db: Queryable, canonical: string): Promise<SearchConcepts> {
  const vs = await resolveResource<ValueSet>(db, 'ValueSet', canonical);
  if (!vs) throw badRequest(`ValueSet ${canonical} is not known to this server`);
  const compiled = await compileValueSet(db, vs);
  return fromPart(compiled.part, [...compiled.openSystems]);
}

/** A code with its descendants (`:below`) or its ancestors (`:above`) in its code system's is-a hierarchy. */
export async function conceptsBelowOrAbove(
  db: Queryable,
  system: string,
  code: string,
  below: boolean,
): Promise<SearchConcepts> {
  const handle = await resolveCodeSystem(db, system);
  if (!handle) throw badRequest(`The hierarchy of ${system} is not known to this server`);
  const concept = await handle.find(db, code);
  if (!concept) return { codes: new Map([[system, [code]]]), wholeSystems: [] };
  const part = await handle.select(
    db,
    [{ property: 'concept', op: below ? 'is-a' : 'generalizes', value: concept.code }],
    0,
  );
  return fromPart(part);
}
