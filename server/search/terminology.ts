import type { CodeSystem, CodeSystemConcept, ValueSet } from '@medplum/fhirtypes';
import { badRequest } from '../fhir/outcomes.ts';
import { parseCriterion } from './criteria.ts';
import { unescapeValue } from './escape.ts';
import type { TypeWhere, ValueCriterion, WhereContext } from './model.ts';
import type { Columns } from './predicates.ts';
import { specTerminology } from '../fhir/search-params/spec-terminology.ts';
import { SqlParams } from './sql.ts';
import { parseToken } from './values.ts';

/** What resolving terminology needs: the search's context and the WHERE builder (given by where.ts). */
type TerminologyContext = WhereContext & { typeWhere: TypeWhere };

/**
 * Token modifiers that need terminology: `:in`/`:not-in` (codes of a ValueSet) and `:below`/`:above` (a code and its
 * descendants/ancestors in a CodeSystem's concept hierarchy). ValueSets and CodeSystems are looked up among the
 * resources stored on this server first, then among the R4 specification's own. Expansion covers pre-expanded
 * ValueSets, enumerated and whole-system includes, nested ValueSets and `is-a` filters; anything else is a 400.
 */

/** Codes of one system; undefined codes: the whole system. */
interface CodeGroup {
  system: string;
  codes?: Set<string>;
}

async function lookup<T extends ValueSet | CodeSystem>(
  ctx: TerminologyContext,
  type: T['resourceType'],
  canonical: string,
): Promise<T | undefined> {
  const [url, version] = canonical.split('|');
  const criteria = [parseCriterion('url', url)];
  if (version) criteria.push(parseCriterion('version', version));
  const own: TerminologyContext = { ...ctx, sql: new SqlParams() };
  const where = await ctx.typeWhere(own, type, 'r', criteria);
  const { rows } = await ctx.repo.query<{ content: string }>(
    `SELECT r.content FROM resource r WHERE ${where} LIMIT 1`,
    own.sql.values,
  );
  if (rows[0]) return JSON.parse(rows[0].content) as T;
  return specTerminology(type, url) as T | undefined;
}

/** The SQL condition (ORed groups over `cols`) for one token criterion with :in, :not-in, :above or :below. */
export async function terminologyPredicate(ctx: TerminologyContext, c: ValueCriterion, cols: Columns): Promise<string> {
  const groups: CodeGroup[] = [];
  for (const raw of c.values) {
    if (c.modifier === 'in' || c.modifier === 'not-in')
      groups.push(...(await expandValueSet(ctx, c, unescapeValue(raw), 0)));
    else groups.push(await hierarchy(ctx, c, raw, c.modifier === 'below'));
  }
  if (groups.length === 0) return 'FALSE';
  return groups
    .map((g) =>
      g.codes
        ? `(${cols.system} = ${ctx.sql.add(g.system)} AND ${cols.value} = ANY(${ctx.sql.add([...g.codes], 'text[]')}))`
        : `(${cols.system} = ${ctx.sql.add(g.system)})`,
    )
    .join(' OR ');
}

async function expandValueSet(
  ctx: TerminologyContext,
  c: ValueCriterion,
  url: string,
  depth: number,
): Promise<CodeGroup[]> {
  if (depth > 5) throw badRequest(`${c.name}: ValueSet ${url} nests too deeply`, c.name);
  const vs = await lookup<ValueSet>(ctx, 'ValueSet', url);
  if (!vs) throw badRequest(`${c.name}: ValueSet ${url} is not known to this server`, c.name);
  const groups: CodeGroup[] = [];
  const add = (system: string | undefined, code?: string) => {
    if (!system) return;
    let g = groups.find((x) => x.system === system);
    if (!g) groups.push((g = { system, codes: code === undefined ? undefined : new Set() }));
    if (code === undefined) g.codes = undefined;
    else g.codes?.add(code);
  };
  if (vs.expansion?.contains?.length) {
    const walk = (items: NonNullable<ValueSet['expansion']>['contains']) =>
      items?.forEach((i) => {
        if (i.code) add(i.system, i.code);
        walk(i.contains);
      });
    walk(vs.expansion.contains);
    return groups;
  }
  for (const inc of vs.compose?.include ?? []) {
    for (const nested of inc.valueSet ?? []) groups.push(...(await expandValueSet(ctx, c, nested, depth + 1)));
    if (!inc.system) continue;
    if (inc.concept?.length) inc.concept.forEach((k) => add(inc.system, k.code));
    else if (inc.filter?.length) {
      for (const f of inc.filter) {
        if (f.property !== 'concept' || (f.op !== 'is-a' && f.op !== 'descendent-of')) {
          throw badRequest(
            `${c.name}: ValueSet ${url} uses a filter (${f.property} ${f.op}) this server cannot expand`,
            c.name,
          );
        }
        const codes = await relatedCodes(ctx, c, inc.system, f.value as string, true);
        if (f.op === 'descendent-of') codes.delete(f.value as string);
        codes.forEach((code) => add(inc.system, code));
      }
    } else add(inc.system);
  }
  return groups;
}

async function hierarchy(ctx: TerminologyContext, c: ValueCriterion, raw: string, below: boolean): Promise<CodeGroup> {
  const t = parseToken(raw);
  if (!t.system || !t.code) throw badRequest(`${c.name}: :${c.modifier} needs system|code`, c.name);
  return { system: t.system, codes: await relatedCodes(ctx, c, t.system, t.code, below) };
}

/** A code with its descendants (below) or ancestors (above) in the CodeSystem's concept tree. */
async function relatedCodes(
  ctx: TerminologyContext,
  c: ValueCriterion,
  system: string,
  code: string,
  below: boolean,
): Promise<Set<string>> {
  const cs = await lookup<CodeSystem>(ctx, 'CodeSystem', system);
  if (!cs?.concept) throw badRequest(`${c.name}: the hierarchy of ${system} is not known to this server`, c.name);
  const out = new Set<string>();
  const walk = (concepts: CodeSystemConcept[], ancestors: string[]): boolean => {
    for (const k of concepts) {
      if (k.code === code) {
        if (below) collect(k, out);
        else [...ancestors, code].forEach((a) => out.add(a));
        return true;
      }
      if (k.concept && walk(k.concept, [...ancestors, k.code as string])) return true;
    }
    return false;
  };
  if (!walk(cs.concept, [])) out.add(code);
  return out;
}

function collect(concept: CodeSystemConcept, out: Set<string>): void {
  out.add(concept.code as string);
  concept.concept?.forEach((k) => collect(k, out));
}
