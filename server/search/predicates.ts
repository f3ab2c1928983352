import { badRequest } from '../fhir/outcomes.ts';
import { fit, normalizeString } from '../store/index-values.ts';
import { escapeLike, unescapeValue } from './escape.ts';
import type { SqlParams } from './sql.ts';
import { UCUM, ucumConversions } from './ucum.ts';
import { parseDate, parseNumber, parseQuantity, parseReference, parseToken, type NumberValue } from './values.ts';

/**
 * SQL conditions on one index row, per parameter type. They read the row through `Columns`, so the same code serves
 * the plain index tables and the components of composite rows.
 */
export interface Columns {
  system: string;
  value: string;
  exact: string;
  targetType: string;
  targetId: string;
  url: string;
  low: string;
  high: string;
  unit: string;
}

/** Columns of a plain index table row. */
export function tableColumns(t: string): Columns {
  return {
    system: `${t}.system`,
    value: `${t}.value`,
    exact: `coalesce(${t}.exact, ${t}.value)`,
    targetType: `${t}.target_type`,
    targetId: `${t}.target_id`,
    url: `${t}.url`,
    low: `${t}.low`,
    high: `${t}.high`,
    unit: `${t}.unit`,
  };
}

/** Columns of component `i` of a composite row (JSON written by the indexer). */
export function componentColumns(t: string, i: number, type: string): Columns {
  const f = (key: string) => `(${t}.components->${i}->>'${key}')`;
  const cast = type === 'date' ? 'timestamptz' : 'numeric';
  return {
    system: f('s'),
    value: f('v'),
    exact: `coalesce(${f('e')}, ${f('v')})`,
    targetType: f('t'),
    targetId: f('i'),
    url: f('u'),
    low: `${f('lo')}::${cast}`,
    high: `${f('hi')}::${cast}`,
    unit: f('u'),
  };
}

/** Context a predicate may need. */
export interface PredicateContext {
  sql: SqlParams;
  /** The parameter name as written, for error messages. */
  name: string;
  baseUrl: string;
}

/** Token: `code`, `system|code`, `|code`, `system|`; for `:of-type` the value is `typeSystem|typeCode|value`. */
export function tokenPredicate(ctx: PredicateContext, c: Columns, raw: string, modifier?: string): string {
  if (modifier === 'of-type') {
    const parts = raw.split('|');
    if (parts.length !== 3 || !parts[1] || !parts[2]) {
      throw badRequest(`${ctx.name}: :of-type values are typeSystem|typeCode|value`, ctx.name);
    }
    return `${c.system} = ${ctx.sql.add(fit(`${unescapeValue(parts[0])}|${unescapeValue(parts[1])}`))} AND ${c.value} = ${ctx.sql.add(fit(unescapeValue(parts[2])))}`;
  }
  const t = parseToken(raw);
  const conds: string[] = [];
  if (t.system === null) conds.push(`${c.system} IS NULL`);
  else if (t.system !== undefined) conds.push(`${c.system} = ${ctx.sql.add(fit(t.system))}`);
  if (t.code !== undefined) conds.push(`${c.value} = ${ctx.sql.add(fit(t.code))}`);
  if (conds.length === 0) throw badRequest(`${ctx.name}: empty token value`, ctx.name);
  return conds.join(' AND ');
}

/**
 * Several token values that are all bare codes (no `|`), as one `= ANY` condition: the index can seek to each code
 * (ORed conditions cannot be one index scan, and index-only counts need one). Undefined for any other list.
 */
export function tokenCodesPredicate(ctx: PredicateContext, c: Columns, raws: string[]): string | undefined {
  if (raws.length < 2) return undefined;
  const tokens = raws.map(parseToken);
  if (tokens.some((t) => t.system !== undefined || t.code === undefined)) return undefined;
  return `${c.value} = ANY(${ctx.sql.add(
    tokens.map((t) => fit(t.code as string)),
    'text[]',
  )})`;
}

/** String: starts-with on the normalised value (default), `:exact`, `:contains`. */
export function stringPredicate(ctx: PredicateContext, c: Columns, raw: string, modifier?: string): string {
  const text = unescapeValue(raw);
  const normalized = normalizeString(text);
  if (modifier === 'exact')
    return `${c.value} = ${ctx.sql.add(fit(normalized))} AND ${c.exact} = ${ctx.sql.add(fit(text))}`;
  if (modifier === 'contains') return `${c.value} LIKE ${ctx.sql.add('%' + escapeLike(normalized) + '%')}`;
  return `${c.value} LIKE ${ctx.sql.add(escapeLike(normalized) + '%')}`;
}

/** URI: exact (default), `:below` (the value is a prefix of the stored URI), `:above` (the stored URI is a prefix). */
export function uriPredicate(ctx: PredicateContext, c: Columns, raw: string, modifier?: string): string {
  const text = unescapeValue(raw);
  if (modifier === 'below') return `${c.value} LIKE ${ctx.sql.add(escapeLike(text) + '%')}`;
  if (modifier === 'above') {
    const prefixes = [...text.matchAll(/\//g)].map((m) => text.slice(0, (m.index as number) + 1)).concat(text);
    const candidates = [...new Set(prefixes.flatMap((p) => [p, p.replace(/\/$/, '')]))].filter(Boolean);
    return `${c.value} = ANY(${ctx.sql.add(candidates.map(fit), 'text[]')})`;
  }
  return `${c.value} = ${ctx.sql.add(fit(text))}`;
}

/** Reference: `Type/id`, `id` (with `:Type` or any type), our own absolute URLs, other URLs and canonicals. */
export function referencePredicate(ctx: PredicateContext, c: Columns, raw: string, typeModifier?: string): string {
  const r = parseReference(raw, ctx.baseUrl);
  if (r.url !== undefined) {
    const url = ctx.sql.add(fit(r.url));
    // A canonical without a version matches every version of it.
    return r.url.includes('|')
      ? `${c.url} = ${url}`
      : `(${c.url} = ${url} OR ${c.url} LIKE ${ctx.sql.add(escapeLike(r.url) + '|%')})`;
  }
  const type = r.targetType ?? typeModifier;
  if (r.targetType && typeModifier && r.targetType !== typeModifier) return 'FALSE';
  const conds = [`${c.targetId} = ${ctx.sql.add(r.targetId)}`];
  if (type) conds.push(`${c.targetType} = ${ctx.sql.add(type)}`);
  return conds.join(' AND ');
}

/** Date with prefix: compares the stored range with the range the value covers (search.html#prefix). */
export function datePredicate(ctx: PredicateContext, c: Columns, raw: string): string {
  const { prefix, range } = parseDate(ctx.name, raw);
  // Placeholders are added only when used (Postgres refuses parameters it never sees), each once.
  let loParam: string | undefined;
  let hiParam: string | undefined;
  const lo = () => (loParam ??= ctx.sql.add(range[0], 'timestamptz'));
  const hi = () => (hiParam ??= ctx.sql.add(range[1], 'timestamptz'));
  const within = () => `(${c.low} >= ${lo()} AND ${c.high} <= ${hi()})`;
  switch (prefix) {
    case 'eq':
      return within();
    case 'ne':
      return `NOT ${within()}`;
    case 'gt':
      return `${c.high} > ${hi()}`;
    case 'lt':
      return `${c.low} < ${lo()}`;
    // The leading bound follows from the rest (a range's low ≤ high); it is what an index can seek to.
    case 'ge':
      return `(${c.high} >= ${lo()} AND (${c.high} > ${hi()} OR ${within()}))`;
    case 'le':
      return `(${c.low} <= ${hi()} AND (${c.low} < ${lo()} OR ${within()}))`;
    case 'sa':
      return `${c.low} > ${hi()}`;
    case 'eb':
      return `${c.high} < ${lo()}`;
    case 'ap': {
      // Approximately: within 10% of the distance between the value and now (the spec's suggestion), at least a day.
      const mid = (Date.parse(range[0]) + Date.parse(range[1])) / 2;
      const slack = Math.max(Math.abs(Date.now() - mid) * 0.1, 86_400_000);
      const apLo = ctx.sql.add(new Date(Date.parse(range[0]) - slack).toISOString(), 'timestamptz');
      const apHi = ctx.sql.add(new Date(Date.parse(range[1]) + slack).toISOString(), 'timestamptz');
      return `(${c.low} <= ${apHi} AND ${c.high} >= ${apLo})`;
    }
  }
}

/** Number with prefix: `eq` uses the value's implicit precision range, the others compare exactly. */
export function numberPredicate(ctx: PredicateContext, c: Columns, value: NumberValue): string {
  const v = ctx.sql.add(value.text, 'numeric');
  const h = () => ctx.sql.add(value.half, 'numeric');
  const within = () => {
    const half = h();
    return `(${c.low} >= ${v} - ${half} AND ${c.high} < ${v} + ${half})`;
  };
  switch (value.prefix) {
    case 'eq':
      return within();
    case 'ne':
      return `NOT ${within()}`;
    case 'gt':
      return `${c.high} > ${v}`;
    case 'lt':
      return `${c.low} < ${v}`;
    case 'ge':
      return `${c.high} >= ${v}`;
    case 'le':
      return `${c.low} <= ${v}`;
    case 'sa':
      return `${c.low} > ${v}`;
    case 'eb':
      return `${c.high} < ${v}`;
    case 'ap': {
      const half = h();
      return `(${c.low} <= ${v} + greatest(abs(${v}) * 0.1, ${half}) AND ${c.high} >= ${v} - greatest(abs(${v}) * 0.1, ${half}))`;
    }
  }
}

/** Number search value (for number parameters). */
export function numberValuePredicate(ctx: PredicateContext, c: Columns, raw: string): string {
  return numberPredicate(ctx, c, parseNumber(ctx.name, raw));
}

/**
 * Quantity: a number comparison plus, when given, the system and the unit (matched against the code or unit). A UCUM
 * unit of a known dimension also matches values in other units of it, converted (ucum.ts).
 */
export function quantityPredicate(ctx: PredicateContext, c: Columns, raw: string): string {
  const q = parseQuantity(ctx.name, raw);
  const conversions = q.unit && (q.system === UCUM || !q.system) ? ucumConversions(q.unit) : undefined;
  if (q.unit && conversions) {
    const units = ctx.sql.add(
      conversions.map(([u]) => u),
      'text[]',
    );
    const factors = ctx.sql.add(
      conversions.map(([, f]) => String(f)),
      'numeric[]',
    );
    const factor = `(${factors})[array_position(${units}, ${c.unit})]`;
    const converted = { ...c, low: `(${c.low} * ${factor})`, high: `(${c.high} * ${factor})` };
    const ucumUnit = `(${c.system} = ${ctx.sql.add(UCUM)} AND ${c.unit} = ANY(${units}))`;
    const unitMatch = q.system ? ucumUnit : `(${c.unit} = ${ctx.sql.add(q.unit)} OR ${ucumUnit})`;
    return `${unitMatch} AND ${numberPredicate(ctx, converted, q)}`;
  }
  const conds = [numberPredicate(ctx, c, q)];
  if (q.system) conds.push(`${c.system} = ${ctx.sql.add(q.system)}`);
  if (q.unit) conds.push(`${c.unit} = ${ctx.sql.add(q.unit)}`);
  return conds.join(' AND ');
}
