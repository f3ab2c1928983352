import { loadDefinitions } from '../fhir/definitions.ts';
import { badRequest } from '../fhir/outcomes.ts';
import { IDENTIFIER_SUFFIX, OF_TYPE_SUFFIX, TEXT_SUFFIX } from '../store/indexer.ts';
import { patientAnchor } from './anchor.ts';
import { compartmentParams } from './compartments.ts';
import { plannedRows, plannedTypeRows } from './estimate.ts';
import { chainTargets, checkCriterion, parseCriterion, UnknownParameter } from './criteria.ts';
import { splitUnescaped } from './escape.ts';
import type { Criterion, ValueCriterion, WhereContext } from './model.ts';
import {
  componentColumns,
  datePredicate,
  numberValuePredicate,
  quantityPredicate,
  referencePredicate,
  stringPredicate,
  tableColumns,
  tokenCodesPredicate,
  tokenPredicate,
  uriPredicate,
  type Columns,
  type PredicateContext,
} from './predicates.ts';
import { searchParam, type ParamType, type TypedParam } from '../fhir/search-params/registry.ts';
import { specialPredicate } from './special.ts';
import { SqlParams } from './sql.ts';
import { terminologyPredicate } from './terminology.ts';

/**
 * Scope of a criterion applied to every resource type at once (system search without `_type`): definitions are read
 * from Patient, as `Resource`-level parameters are the same for every type, and index rows are matched by rid only.
 */
export const ANY_TYPE = '*';

/** The index table of each parameter type. */
export const TABLE_OF: Record<ParamType, string> = {
  token: 'sp_token',
  string: 'sp_string',
  reference: 'sp_reference',
  date: 'sp_date',
  number: 'sp_number',
  quantity: 'sp_quantity',
  uri: 'sp_uri',
  composite: 'sp_composite',
  special: 'sp_composite',
};

/**
 * The WHERE clause selecting live resources of `resourceType` (as `alias`) that match every criterion and that the
 * caller may see. Access criteria are ANDed here, so every query built from this — page, total, chains, `_has`,
 * includes — stays inside them.
 */
export async function typeWhere(
  ctx: WhereContext,
  resourceType: string,
  alias: string,
  criteria: Criterion[],
): Promise<string> {
  const parts = [`${alias}.resource_type = ${ctx.sql.add(resourceType)}`, `NOT ${alias}.deleted`];
  const anchor = patientAnchor(resourceType, criteria);
  for (const [i, c] of criteria.entries()) {
    if (c === anchor) parts.push(anchorSql(ctx, resourceType, alias, anchor));
    else {
      const sql = await criterionSql(ctx, resourceType, alias, c);
      // With an anchor every other criterion is checked on the anchor's rows, one index probe each.
      parts.push(anchor ? `(SELECT ${sql})` : plannedAsJoin(i, sql));
    }
  }
  const visible = await visibilitySql(ctx, resourceType, alias);
  if (visible) parts.push(visible);
  return parts.join(' AND ');
}

/**
 * The WHERE clause of a search over several types (system search): each type's own clause, ORed. With every type
 * and only `Resource`-level criteria, one clause serves all types (index rows are matched without their type).
 */
export async function typesWhere(
  ctx: WhereContext,
  resourceTypes: string[],
  alias: string,
  criteria: Criterion[],
): Promise<string> {
  if (resourceTypes.length === 1) return typeWhere(ctx, resourceTypes[0], alias, criteria);
  if (resourceTypes.length < loadDefinitions().resourceTypes.length) {
    const clauses: string[] = [];
    for (const type of resourceTypes) clauses.push(`(${await typeWhere(ctx, type, alias, criteria)})`);
    return `(${clauses.join(' OR ')})`;
  }
  const parts = [`NOT ${alias}.deleted`];
  for (const [i, c] of criteria.entries()) parts.push(plannedAsJoin(i, await criterionSql(ctx, ANY_TYPE, alias, c)));
  for (const type of resourceTypes) {
    const visible = await visibilitySql(ctx, type, alias);
    if (visible) parts.push(`(${alias}.resource_type <> ${ctx.sql.add(type)} OR ${visible})`);
  }
  return parts.join(' AND ');
}

/** Criteria Postgres may plan as joins; the ones after are checked row by row. */
const JOINED_CRITERIA = 8;

/**
 * The `i`th criterion of a query as it goes into the WHERE clause. Postgres turns `EXISTS` criteria into semi-joins
 * and searches their join orders, a search that grows exponentially with their number (past 12, its genetic
 * optimizer: 50 ANDed parameters took 0.4–3 s and up to 340 MB to plan). The first eight (`join_collapse_limit`'s
 * default) stay joins the planner orders; the rest are wrapped in a sub-select, checked for each row that the first
 * ones let through (an index probe by rid each), so planning stays linear in the number of criteria.
 */
function plannedAsJoin(i: number, criterion: string): string {
  return i < JOINED_CRITERIA ? criterion : `(SELECT ${criterion})`;
}

/** The access restriction on one type as SQL over `alias`, or undefined when there is none. */
export async function visibilitySql(
  ctx: WhereContext,
  resourceType: string,
  alias: string,
): Promise<string | undefined> {
  if (ctx.trusted || !ctx.access?.visibleWhere) return undefined;
  const alternatives = ctx.access.visibleWhere(resourceType);
  if (alternatives === undefined) return undefined;
  if (alternatives.length === 0) return 'FALSE';
  const trusted: WhereContext = { ...ctx, trusted: true };
  const ors: string[] = [];
  for (const alternative of alternatives) {
    const ands: string[] = [];
    for (const [name, values] of Object.entries(alternative)) {
      for (const value of values) {
        const c = parseCriterion(name, value);
        checkCriterion(resourceType, c);
        ands.push(await criterionSql(trusted, resourceType, alias, c));
      }
    }
    ors.push(ands.length ? `(${ands.join(' AND ')})` : 'TRUE');
  }
  return `(${ors.join(' OR ')})`;
}

/** One criterion as a boolean SQL expression over the resource row `alias`. */
export async function criterionSql(
  ctx: WhereContext,
  resourceType: string,
  alias: string,
  c: Criterion,
): Promise<string> {
  if (c.kind === 'chain') return chainSql(ctx, resourceType, alias, c);
  if (c.kind === 'has') return hasSql(ctx, resourceType, alias, c);
  if (c.kind === 'compartment') return compartmentSql(ctx, resourceType, alias, c);
  return valueSql(ctx, resourceType, alias, c);
}

function compartmentSql(
  ctx: WhereContext,
  resourceType: string,
  alias: string,
  c: Extract<Criterion, { kind: 'compartment' }>,
) {
  const t = ctx.sql.alias('t');
  const id = ctx.sql.add(c.id);
  const codes = compartmentParams(c.compartmentType, resourceType) ?? [];
  const refers = codes.length
    ? `EXISTS (SELECT 1 FROM sp_reference ${t} WHERE ${t}.rid = ${alias}.rid AND ${t}.resource_type = ${ctx.sql.add(resourceType)}
        AND ${t}.code = ANY(${ctx.sql.add(codes, 'text[]')}) AND ${t}.target_id = ${id} AND ${t}.target_type = ${ctx.sql.add(c.compartmentType)})`
    : 'FALSE';
  return resourceType === c.compartmentType ? `(${alias}.id = ${id} OR ${refers})` : refers;
}

async function chainSql(
  ctx: WhereContext,
  resourceType: string,
  alias: string,
  c: Extract<Criterion, { kind: 'chain' }>,
) {
  const ref = ctx.sql.alias('ref');
  const target = ctx.sql.alias('r');
  const targets = chainTargets(resourceType, c).filter((t) => appliesTo(t, c.next));
  const branches: string[] = [];
  for (const t of targets) {
    const where = await typeWhere(ctx, t, target, [c.next]);
    branches.push(`(${where})`);
  }
  const typeFilter = targets.length === 1 ? ` AND ${ref}.target_type = ${ctx.sql.add(targets[0])}` : '';
  return `EXISTS (SELECT 1 FROM sp_reference ${ref} JOIN resource ${target}
      ON ${target}.resource_type = ${ref}.target_type AND ${target}.id = ${ref}.target_id
    WHERE ${ref}.rid = ${alias}.rid AND ${ref}.resource_type = ${ctx.sql.add(resourceType)}
      AND ${ref}.code = ${ctx.sql.add(c.code)}${typeFilter} AND (${branches.join(' OR ') || 'FALSE'}))`;
}

async function hasSql(ctx: WhereContext, resourceType: string, alias: string, c: Extract<Criterion, { kind: 'has' }>) {
  const ref = ctx.sql.alias('ref');
  const source = ctx.sql.alias('r');
  const where = await typeWhere(ctx, c.sourceType, source, [c.next]);
  // OFFSET 0 keeps Postgres from turning the EXISTS into a join: it is then checked per target, in the outer order.
  const fence = (await probeTargets(ctx, resourceType, c)) ? ' OFFSET 0' : '';
  return `EXISTS (SELECT 1 FROM sp_reference ${ref} JOIN resource ${source} ON ${source}.rid = ${ref}.rid
    WHERE ${ref}.resource_type = ${ctx.sql.add(c.sourceType)} AND ${ref}.code = ${ctx.sql.add(c.code)}
      AND ${ref}.target_id = ${alias}.id AND ${ref}.target_type = ${ctx.sql.add(resourceType)} AND ${where}${fence})`;
}

/**
 * Whether `_has` should check the targets one by one (true) rather than collect the targets of every matching source
 * (false, Postgres's own choice). Postgres estimates the share of targets that are referred to as (distinct referring
 * values) / (ids of every type), far too low for a small type such as Patient, so it always collects, and reads every
 * matching source (34,641 Observations with a vital-sign code at 1M resources) to fill one page of Patients. When the
 * planner expects at least as many matching sources as there are targets, most targets have one and checking them in
 * order stops after a page; with fewer, collecting is cheap. The source estimate leaves out the type filter on the
 * resource row, whose correlation with the index rows' type the planner cannot see either.
 */
async function probeTargets(
  ctx: WhereContext,
  resourceType: string,
  c: Extract<Criterion, { kind: 'has' }>,
): Promise<boolean> {
  // Asked once per request and criterion: building the probe of a nested `_has` builds (and so probes) the level
  // below it, which the search's own SQL then builds again; without this each level doubled the probes.
  let byType = probes.get(c);
  if (!byType) probes.set(c, (byType = new Map()));
  let answer = byType.get(resourceType);
  if (!answer) {
    answer = (async () => {
      const sub: WhereContext = { ...ctx, sql: new SqlParams(), trusted: true };
      const sources = `SELECT 1 FROM resource s WHERE NOT s.deleted AND ${await criterionSql(sub, c.sourceType, 's', c.next)}`;
      const matching = await plannedRows(ctx.repo, sources, sub.sql.values);
      return matching >= (await plannedTypeRows(ctx.repo, resourceType));
    })();
    byType.set(resourceType, answer);
    answer.catch(() => byType.delete(resourceType)); // a failed probe (a cancelled request) is not an answer
  }
  return answer;
}

/** Probe answers by criterion (parsed per request, so they live as long as the request) and target type. */
const probes = new WeakMap<Criterion, Map<string, Promise<boolean>>>();

/** Whether a criterion applies to a type; remembered per criterion (each check walks the chain below it). */
function appliesTo(resourceType: string, c: Criterion): boolean {
  let byType = applicable.get(c);
  if (!byType) applicable.set(c, (byType = new Map()));
  let applies = byType.get(resourceType);
  if (applies === undefined) {
    try {
      checkCriterion(resourceType, c);
      applies = true;
    } catch (err) {
      if (!(err instanceof UnknownParameter)) throw err;
      applies = false;
    }
    byType.set(resourceType, applies);
  }
  return applies;
}

const applicable = new WeakMap<Criterion, Map<string, boolean>>();

async function valueSql(ctx: WhereContext, resourceType: string, alias: string, c: ValueCriterion): Promise<string> {
  const special = await specialPredicate(ctx, resourceType, alias, c, (type, a) => visibilitySql(ctx, type, a));
  if (special !== undefined) return special;
  const param = searchParam(definitionType(resourceType), c.code) as TypedParam;
  if (c.modifier === 'missing') {
    if (c.values.length !== 1 || (c.values[0] !== 'true' && c.values[0] !== 'false')) {
      throw badRequest(`${c.name} must be true or false`, c.name);
    }
    const exists = rowExists(ctx, resourceType, alias, ctx.sql.alias('t'), TABLE_OF[param.type], c.code, 'TRUE');
    return c.values[0] === 'true' ? `NOT ${exists}` : exists;
  }
  if (param.type === 'token' && ['in', 'not-in', 'above', 'below'].includes(c.modifier ?? '')) {
    const t = ctx.sql.alias('t');
    const ors = await terminologyPredicate(ctx, c, tableColumns(t));
    const exists = rowExists(ctx, resourceType, alias, t, 'sp_token', c.code, ors);
    return c.modifier === 'not-in' ? `NOT ${exists}` : exists;
  }
  let table = TABLE_OF[param.type];
  let code = c.code;
  let type: ParamType = param.type;
  if (c.modifier === 'text' && type === 'token') [table, code, type] = ['sp_string', c.code + TEXT_SUFFIX, 'string'];
  if (c.modifier === 'of-type') code = c.code + OF_TYPE_SUFFIX;
  if (c.modifier === 'identifier') [table, code, type] = ['sp_token', c.code + IDENTIFIER_SUFFIX, 'token'];
  const pctx: PredicateContext = { sql: ctx.sql, name: c.name, baseUrl: ctx.baseUrl };
  const modifier = c.modifier === 'not' || c.modifier === 'text' ? undefined : c.modifier;
  const t = ctx.sql.alias('t');
  const codes =
    type === 'token' && modifier === undefined ? tokenCodesPredicate(pctx, tableColumns(t), c.values) : undefined;
  const ors = codes ?? c.values.map((v) => `(${valuePredicate(pctx, param, type, t, v, modifier)})`).join(' OR ');
  const exists = rowExists(ctx, resourceType, alias, t, table, code, ors);
  return c.modifier === 'not' ? `NOT ${exists}` : exists;
}

/**
 * The patient anchor (anchor.ts) as the set of rids of the patient's index rows, computed first (an InitPlan, never
 * joined in another order) and looked up by the resource's rid: the plan starts from the patient whatever the
 * statistics say.
 */
function anchorSql(ctx: WhereContext, resourceType: string, alias: string, c: ValueCriterion): string {
  const param = searchParam(resourceType, c.code) as TypedParam;
  const t = ctx.sql.alias('t');
  const pctx: PredicateContext = { sql: ctx.sql, name: c.name, baseUrl: ctx.baseUrl };
  const predicate = valuePredicate(pctx, param, 'reference', t, c.values[0], c.modifier);
  return `${alias}.rid = ANY (ARRAY (SELECT ${t}.rid FROM sp_reference ${t} WHERE ${t}.resource_type = ${ctx.sql.add(resourceType)}
    AND ${t}.code = ${ctx.sql.add(c.code)} AND (${predicate})))`;
}

/** `EXISTS` an index row (alias `t`) of the resource for `code` satisfying `condition`. */
function rowExists(
  ctx: WhereContext,
  resourceType: string,
  alias: string,
  t: string,
  table: string,
  code: string,
  condition: string,
) {
  const type = resourceType === ANY_TYPE ? '' : ` AND ${t}.resource_type = ${ctx.sql.add(resourceType)}`;
  return `EXISTS (SELECT 1 FROM ${table} ${t} WHERE ${t}.rid = ${alias}.rid${type} AND ${t}.code = ${ctx.sql.add(code)} AND (${condition}))`;
}

/** The type whose definitions describe a scope. */
function definitionType(resourceType: string): string {
  return resourceType === ANY_TYPE ? 'Patient' : resourceType;
}

function valuePredicate(
  ctx: PredicateContext,
  param: TypedParam,
  type: ParamType,
  t: string,
  raw: string,
  modifier: string | undefined,
): string {
  if (type === 'composite') return compositePredicate(ctx, param, t, raw);
  return typedPredicate(ctx, type, tableColumns(t), raw, modifier);
}

/** Composite: `a$b` matches a row whose components match `a` and `b` (same element of the resource). */
function compositePredicate(ctx: PredicateContext, param: TypedParam, t: string, raw: string): string {
  const parts = splitUnescaped(raw, '$');
  const components = param.components ?? [];
  if (parts.length !== components.length) {
    throw badRequest(`${ctx.name} needs ${components.length} components separated by $`, ctx.name);
  }
  return components
    .map((comp, i) => typedPredicate(ctx, comp.param.type, componentColumns(t, i, comp.param.type), parts[i]))
    .join(' AND ');
}

/** The predicate of one value of a parameter (or composite component) type on an index row's columns. */
function typedPredicate(ctx: PredicateContext, type: ParamType, cols: Columns, raw: string, modifier?: string): string {
  switch (type) {
    case 'token':
      return tokenPredicate(ctx, cols, raw, modifier);
    case 'string':
      return stringPredicate(ctx, cols, raw, modifier);
    case 'uri':
      return uriPredicate(ctx, cols, raw, modifier);
    case 'reference':
      return referencePredicate(ctx, cols, raw, modifier);
    case 'date':
      return datePredicate(ctx, cols, raw);
    case 'number':
      return numberValuePredicate(ctx, cols, raw);
    case 'quantity':
      return quantityPredicate(ctx, cols, raw);
    default:
      throw badRequest(`Parameter ${ctx.name} of type ${type} cannot be searched this way`, ctx.name);
  }
}
