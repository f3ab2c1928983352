import { OutcomeError, badRequest } from '../fhir/outcomes.ts';
import { unescapeValue } from './escape.ts';
import type { ValueCriterion, WhereContext } from './model.ts';
import type { Columns } from './predicates.ts';
import { parseToken } from './values.ts';
import { conceptsBelowOrAbove, valueSetConcepts, type SearchConcepts } from '../../terminology/search.ts';

/**
 * Token modifiers that need terminology: `:in`/`:not-in` (codes of a ValueSet) and `:below`/`:above` (a code and its
 * descendants/ancestors), answered by the terminology service (terminology/): ValueSets and CodeSystems written
 * through the API, installed packages and licensed releases, and the R4 specification. Sets in the terminology store
 * are joined as SQL (the is-a closure), never materialised as code lists; what a ValueSet cannot say (a system the
 * server does not hold, a filter it cannot evaluate) is a 400 naming the parameter.
 */
export async function terminologyPredicate(ctx: WhereContext, c: ValueCriterion, cols: Columns): Promise<string> {
  const ors: string[] = [];
  for (const raw of c.values) {
    let concepts: SearchConcepts;
    try {
      if (c.modifier === 'in' || c.modifier === 'not-in')
        concepts = await valueSetConcepts(ctx.repo, unescapeValue(raw));
      else {
        const t = parseToken(raw);
        if (!t.system || !t.code) throw badRequest(`${c.name}: :${c.modifier} needs system|code`, c.name);
        concepts = await conceptsBelowOrAbove(ctx.repo, t.system, t.code, c.modifier === 'below');
      }
    } catch (err) {
      if (err instanceof OutcomeError && err.status !== 400 && err.status < 500)
        throw badRequest(`${c.name}: ${err.message}`, c.name);
      throw err;
    }
    for (const [system, codes] of concepts.codes)
      ors.push(`(${cols.system} = ${ctx.sql.add(system)} AND ${cols.value} = ANY(${ctx.sql.add(codes, 'text[]')}))`);
    for (const system of concepts.wholeSystems) ors.push(`(${cols.system} = ${ctx.sql.add(system)})`);
    if (concepts.sql)
      ors.push(`((${cols.system}, ${cols.value}) IN (SELECT system, code FROM (${concepts.sql(ctx.sql)}) v))`);
  }
  return ors.length ? ors.join(' OR ') : 'FALSE';
}
