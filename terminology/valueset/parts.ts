import type { ConceptRow, Params } from '../model.ts';

/**
 * A set of concepts on its way to an expansion: rows already in memory, or SQL over the terminology store (columns
 * system, version, code, display, inactive, abstract, designations, seq). Sets that are all in memory combine in
 * memory; as soon as one is SQL, the combination is SQL (memory rows travel as one jsonb parameter), so a stored
 * system's concepts are never pulled into the server to be filtered, paged or tested for membership.
 */
export type Part = { rows: ConceptRow[] } | { sql: (p: Params) => string };

/** The columns every SQL part selects, in order. */
export const PART_COLUMNS = 'system, version, code, display, inactive, abstract, designations, seq';

/** A part of rows in memory. */
export function rowsPart(rows: ConceptRow[]): Part {
  return { rows };
}

/** A part of no concepts. */
export const EMPTY: Part = { rows: [] };

function asSql(part: Part): (p: Params) => string {
  if ('sql' in part) return part.sql;
  const rows = part.rows;
  return (p) =>
    `SELECT ${PART_COLUMNS} FROM jsonb_to_recordset(${p.add(JSON.stringify(rows), 'jsonb')}) AS x(system text,
      version text, code text, display text, inactive boolean, abstract boolean, designations jsonb, seq bigint)`;
}

const key = (r: { system: string; code: string }) => `${r.system}\u0000${r.code}`;

/** Every concept of any part (first occurrence wins). */
export function union(parts: Part[]): Part {
  if (parts.length === 1) return parts[0];
  if (parts.every((p) => 'rows' in p)) {
    const seen = new Set<string>();
    const rows = parts.flatMap((p) => (p as { rows: ConceptRow[] }).rows);
    return { rows: rows.filter((r) => !seen.has(key(r)) && seen.add(key(r))) };
  }
  if (parts.length === 0) return EMPTY;
  const sqls = parts.map(asSql);
  return { sql: (p) => sqls.map((s) => `(${s(p)})`).join(' UNION ALL ') };
}

/** The concepts of `a` that are also in `b`. */
export function intersect(a: Part, b: Part): Part {
  if ('rows' in a && 'rows' in b) {
    const inB = new Set(b.rows.map(key));
    return { rows: a.rows.filter((r) => inB.has(key(r))) };
  }
  const [sa, sb] = [asSql(a), asSql(b)];
  return {
    sql: (p) =>
      `SELECT ${PART_COLUMNS} FROM (${sa(p)}) a WHERE (a.system, a.code) IN (SELECT system, code FROM (${sb(p)}) b)`,
  };
}

/** The concepts of `a` that are not in `b`. */
export function except(a: Part, b: Part): Part {
  if ('rows' in a && 'rows' in b) {
    const inB = new Set(b.rows.map(key));
    return { rows: a.rows.filter((r) => !inB.has(key(r))) };
  }
  const [sa, sb] = [asSql(a), asSql(b)];
  return {
    sql: (p) =>
      `SELECT ${PART_COLUMNS} FROM (${sa(p)}) a WHERE (a.system, a.code) NOT IN (SELECT system, code FROM (${sb(p)}) b WHERE code IS NOT NULL)`,
  };
}

/** The part as SQL (rows become a jsonb parameter). */
export function partSql(part: Part, p: Params): string {
  return asSql(part)(p);
}
