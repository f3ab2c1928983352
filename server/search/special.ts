import { badRequest } from '../fhir/outcomes.ts';
import { unescapeValue } from './escape.ts';
import type { ValueCriterion, WhereContext } from './model.ts';
import { datePredicate, type Columns } from './predicates.ts';
import { searchParam } from '../fhir/search-params/registry.ts';

/** Kilometres per unit of `near` distances (UCUM codes; km when none is given). */
const KM_PER_UNIT: Record<string, number> = { km: 1, m: 0.001, '[mi_i]': 1.609344, mi: 1.609344 };
/** Distance used by `near` when the client gives none. */
const DEFAULT_NEAR_KM = 10;

/**
 * Parameters answered from the resource row or other resources rather than an index table: `_id`, `_lastUpdated`,
 * `_text`/`_content` (full-text over the narrative / the whole resource, unindexed: combine with selective criteria),
 * `_list`, and `near`. Returns undefined for every other parameter.
 */
export async function specialPredicate(
  ctx: WhereContext,
  resourceType: string,
  alias: string,
  c: ValueCriterion,
  visibility: (type: string, alias: string) => Promise<string | undefined>,
): Promise<string | undefined> {
  if (c.modifier === 'missing' && ['_id', '_lastUpdated', '_text', '_content', '_list'].includes(c.code)) {
    return c.values[0] === 'true' ? 'FALSE' : 'TRUE';
  }
  switch (c.code) {
    case '_id': {
      const match = `${alias}.id = ANY(${ctx.sql.add(c.values.map(unescapeValue), 'text[]')})`;
      return c.modifier === 'not' ? `NOT ${match}` : match;
    }
    case '_lastUpdated': {
      const cols = { low: `${alias}.last_updated`, high: `${alias}.last_updated` } as Columns;
      const pctx = { sql: ctx.sql, name: c.name, baseUrl: ctx.baseUrl };
      return `(${c.values.map((v) => datePredicate(pctx, cols, v)).join(' OR ')})`;
    }
    case '_text':
      return fullText(
        ctx,
        `regexp_replace(coalesce(${storedJson(`${alias}.content`)} #>> '{text,div}', ''), '<[^>]*>', ' ', 'g')`,
        c,
      );
    case '_content':
      return fullText(ctx, `${alias}.content`, c);
    case '_list':
      return listPredicate(ctx, resourceType, alias, c, visibility);
    default:
      break;
  }
  if (c.code === 'near' && searchParam(resourceType, c.code)?.type === 'special') {
    return nearPredicate(ctx, resourceType, alias, c);
  }
  return undefined;
}

/**
 * JSON escapes Postgres refuses to read as text (the NUL escape, and UTF-16 surrogate escapes that are not a pair),
 * as a regular expression over JSON text in which every escaped backslash was replaced first.
 */
const UNREADABLE_ESCAPES = String.raw`\\u0000|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}`;

/**
 * A stored resource's JSON text as `json`, readable whatever an older version stored: numbers such as `1e999999`
 * (valid JSON) break a `jsonb` cast, but not `json`, which keeps number text as it is; `\u0000` and lone surrogate
 * escapes (which JSON.stringify writes for such strings) break both, so they become spaces first. Escaped backslashes
 * are set aside meanwhile (`\\u0000` is text, not an escape), as U+0001, which stored JSON never holds unescaped.
 * Rows without any `\u` escape, nearly all, are cast as they are.
 */
function storedJson(column: string): string {
  const b = 'chr(92)';
  const cleaned = `replace(regexp_replace(replace(${column}, ${b} || ${b}, chr(1)), '${UNREADABLE_ESCAPES}', ' ', 'g'), chr(1), ${b} || ${b})`;
  return `(CASE WHEN strpos(${column}, ${b} || 'u') = 0 THEN ${column} ELSE ${cleaned} END)::json`;
}

function fullText(ctx: WhereContext, document: string, c: ValueCriterion): string {
  const ors = c.values.map(
    (v) => `to_tsvector('english', ${document}) @@ websearch_to_tsquery('english', ${ctx.sql.add(unescapeValue(v))})`,
  );
  return `(${ors.join(' OR ')})`;
}

async function listPredicate(
  ctx: WhereContext,
  resourceType: string,
  alias: string,
  c: ValueCriterion,
  visibility: (type: string, alias: string) => Promise<string | undefined>,
): Promise<string> {
  const list = ctx.sql.alias('l');
  const item = ctx.sql.alias('li');
  const visible = await visibility('List', list);
  return `EXISTS (SELECT 1 FROM resource ${list} JOIN sp_reference ${item} ON ${item}.rid = ${list}.rid
    WHERE ${list}.resource_type = 'List' AND ${list}.id = ANY(${ctx.sql.add(c.values.map(unescapeValue), 'text[]')})
      AND NOT ${list}.deleted AND ${item}.resource_type = 'List' AND ${item}.code = 'item'
      AND ${item}.target_type = ${resourceType === '*' ? `${alias}.resource_type` : ctx.sql.add(resourceType)} AND ${item}.target_id = ${alias}.id${visible ? ` AND ${visible}` : ''})`;
}

/** `near=latitude|longitude|distance|units`: great-circle distance (haversine) to Location.position. */
function nearPredicate(ctx: WhereContext, resourceType: string, alias: string, c: ValueCriterion): string {
  const t = ctx.sql.alias('t');
  const ors = c.values.map((raw) => {
    const [lat, lon, distance, units] = unescapeValue(raw).split('|');
    const la = Number(lat);
    const lo = Number(lon);
    const d = distance ? Number(distance) : DEFAULT_NEAR_KM;
    const perUnit = KM_PER_UNIT[units || 'km'];
    if (!lat || !lon || !Number.isFinite(la) || !Number.isFinite(lo) || !Number.isFinite(d) || perUnit === undefined) {
      throw badRequest(`${c.name} must be latitude|longitude|distance|units (units km, m or [mi_i])`, c.name);
    }
    const pLat = ctx.sql.add(la, 'float8');
    const pLon = ctx.sql.add(lo, 'float8');
    const rLat = `(${t}.components->0->>'n')::float8`;
    const rLon = `(${t}.components->1->>'n')::float8`;
    return `2 * 6371 * asin(sqrt(power(sin(radians((${rLat} - ${pLat}) / 2)), 2)
      + cos(radians(${pLat})) * cos(radians(${rLat})) * power(sin(radians((${rLon} - ${pLon}) / 2)), 2)))
      <= ${ctx.sql.add(d * perUnit, 'float8')}`;
  });
  return `EXISTS (SELECT 1 FROM sp_composite ${t} WHERE ${t}.rid = ${alias}.rid AND ${t}.resource_type = ${ctx.sql.add(resourceType)}
    AND ${t}.code = ${ctx.sql.add(c.code)} AND ((${ors.join(') OR (')})))`;
}
