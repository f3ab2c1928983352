import type { Coding, ConceptMap, ParametersParameter } from '@medplum/fhirtypes';
import type { Queryable } from '../model.ts';
import { specConceptMaps } from '../spec.ts';
import { runSql } from '../sql.ts';

/** One translation of a code. */
export interface Translation {
  equivalence: string;
  concept: Coding;
  source?: string;
  comment?: string;
  product?: ParametersParameter[];
}

const NO_MATCH = new Set(['unmatched', 'disjoint']);

/** Whether any translation is a real match (R4: not `unmatched` or `disjoint`). */
export function anyMatch(translations: Translation[]): boolean {
  return translations.some((t) => !NO_MATCH.has(t.equivalence));
}

/**
 * The translations of `coding` by one ConceptMap: forward (source system → target) or reverse (target → source),
 * including a group's `unmapped` rule (`provided`: the same code; `fixed`: the given code) when nothing matched.
 */
export function translateWith(map: ConceptMap, coding: Coding, reverse: boolean, targetSystem?: string): Translation[] {
  const out: Translation[] = [];
  for (const group of map.group ?? []) {
    const [from, to] = reverse ? [group.target, group.source] : [group.source, group.target];
    if (from !== coding.system || (targetSystem && to !== targetSystem)) continue;
    let matched = false;
    for (const element of group.element ?? []) {
      for (const target of element.target ?? []) {
        const hit = reverse ? target.code === coding.code : element.code === coding.code;
        if (!hit) continue;
        matched = true;
        const [code, display] = reverse ? [element.code, element.display] : [target.code, target.display];
        out.push({
          equivalence: target.equivalence ?? 'equivalent',
          concept: { system: to, ...(code ? { code } : {}), ...(display ? { display } : {}) },
          source: map.url,
          comment: target.comment,
        });
      }
    }
    if (!matched && !reverse && group.unmapped) {
      const u = group.unmapped;
      if (u.mode === 'provided')
        out.push({ equivalence: 'equal', concept: { system: to, code: coding.code }, source: map.url });
      if (u.mode === 'fixed' && u.code)
        out.push({
          equivalence: 'equivalent',
          concept: { system: to, code: u.code, display: u.display },
          source: map.url,
        });
    }
  }
  return out;
}

/**
 * ConceptMaps that may translate codes of `system` (as source, or as target for reverse): the API's (by the
 * `source-system`/`target-system` index), the store's (packages) and the specification's.
 */
export async function candidateMaps(db: Queryable, system: string, reverse: boolean): Promise<ConceptMap[]> {
  const api = await runSql<{ content: string }>(
    db,
    `SELECT r.content FROM sp_uri u JOIN resource r ON r.rid = u.rid
      WHERE u.resource_type = 'ConceptMap' AND u.code = $1 AND u.value = $2 AND NOT r.deleted LIMIT 50`,
    [reverse ? 'target-system' : 'source-system', system],
  );
  const stored = await runSql<{ resource: ConceptMap }>(
    db,
    `SELECT resource FROM terminology_resource WHERE resource_type = 'ConceptMap'
      AND resource -> 'group' @> jsonb_build_array(jsonb_build_object($1::text, $2::text)) LIMIT 50`,
    [reverse ? 'target' : 'source', system],
  );
  const spec = specConceptMaps().filter((m) => m.group?.some((g) => (reverse ? g.target : g.source) === system));
  return [...api.map((r) => JSON.parse(r.content) as ConceptMap), ...stored.map((r) => r.resource), ...spec];
}
