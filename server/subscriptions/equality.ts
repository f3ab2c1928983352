import type { IndexRows } from '../store/indexer.ts';
import { fit } from '../store/index-values.ts';
import type { SearchCriteria } from '../core/types.ts';
import { parseCriterion } from '../search/criteria.ts';
import { searchParam } from '../fhir/search-params/registry.ts';
import { parseReference, parseToken } from '../search/values.ts';

/** An exact test of a version's index rows (and id) against criteria. */
export type EqualityTest = (id: string, rows: IndexRows) => boolean;

/**
 * For criteria made only of plain equalities — tokens (`code=x`, `system|x`, `|x`, `system|`), local references
 * (`subject=Patient/1`, `subject=1`) and `_id`, with ORed values — a test on the version's own index rows that
 * decides exactly what the search engine's SQL would (the same value parsing and comparisons as predicates.ts, on
 * the same rows the store indexes). The common subscription shapes (one per patient, per device, per code) are thus
 * matched without a query; anything else (modifiers, chains, other types, URLs) returns undefined and goes to SQL.
 */
export function compileEquality(
  resourceType: string,
  criteria: SearchCriteria,
  baseUrl: string,
): EqualityTest | undefined {
  const tests: EqualityTest[] = [];
  for (const [name, values] of Object.entries(criteria)) {
    for (const value of values) {
      const c = parseCriterion(name, value);
      if (c.kind !== 'value' || c.modifier) return undefined;
      if (c.code === '_id') {
        tests.push((id) => c.values.includes(id));
        continue;
      }
      const type = searchParam(resourceType, c.code)?.type;
      if (type === 'token') {
        const wanted = c.values.map(parseToken);
        tests.push((_id, rows) =>
          rows.token.some(
            ([code, system, v]) =>
              code === c.code &&
              wanted.some(
                (t) =>
                  (t.system === null ? system === null : t.system === undefined || system === fit(t.system)) &&
                  (t.code === undefined || v === fit(t.code)),
              ),
          ),
        );
      } else if (type === 'reference') {
        const wanted = c.values.map((v) => parseReference(v, baseUrl));
        if (wanted.some((r) => r.url !== undefined)) return undefined;
        tests.push((_id, rows) =>
          rows.reference.some(
            ([code, targetType, targetId]) =>
              code === c.code &&
              wanted.some((r) => targetId === r.targetId && (!r.targetType || targetType === r.targetType)),
          ),
        );
      } else {
        return undefined;
      }
    }
  }
  return (id, rows) => tests.every((t) => t(id, rows));
}
