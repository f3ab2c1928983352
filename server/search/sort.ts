import type { Cursor, SortKey } from './model.ts';
import { searchParam } from '../fhir/search-params/registry.ts';
import type { SqlParams } from './sql.ts';
import { TABLE_OF } from './where.ts';

/** A sort key as SQL: the expression, its direction, and the type cursor values are cast back to. */
export interface SortColumn {
  expression: string;
  descending: boolean;
  cast: 'text' | 'timestamptz' | 'numeric';
}

/**
 * The SQL of each sort key over the resource row `alias`. A parameter with several values sorts by its lowest value
 * ascending and its highest descending (dates by range start/end); resources without a value come last either way.
 */
export function sortColumns(sql: SqlParams, resourceType: string, alias: string, keys: SortKey[]): SortColumn[] {
  return keys.map(({ code, descending }) => {
    if (code === '_id') return { expression: `${alias}.id`, descending, cast: 'text' };
    if (code === '_lastUpdated') return { expression: `${alias}.last_updated`, descending, cast: 'timestamptz' };
    const param = searchParam(resourceType, code);
    if (!param) throw new Error(`sort parameter ${code} was not checked`);
    const agg = descending ? 'max' : 'min';
    let column = 'value';
    let cast: SortColumn['cast'] = 'text';
    if (param.type === 'date' || param.type === 'number' || param.type === 'quantity') {
      column = descending ? 'high' : 'low';
      cast = param.type === 'date' ? 'timestamptz' : 'numeric';
    } else if (param.type === 'reference') {
      column = `coalesce(t.target_type || '/' || t.target_id, t.url)`;
    }
    const expr = column.includes('(') ? column : `t.${column}`;
    return {
      expression: `(SELECT ${agg}(${expr}) FROM ${TABLE_OF[param.type]} t WHERE t.rid = ${alias}.rid AND t.code = ${sql.add(code)})`,
      descending,
      cast,
    };
  });
}

/** ORDER BY over the sort columns (named s0, s1, … in `q`) then rid; `reverse` flips every direction (previous page). */
export function orderBy(q: string, columns: SortColumn[], reverse: boolean): string {
  const keys = columns.map((c, i) => {
    const desc = c.descending !== reverse;
    return `${q}.s${i} ${desc ? 'DESC' : 'ASC'} NULLS ${reverse ? 'FIRST' : 'LAST'}`;
  });
  keys.push(`${q}.rid ${reverse ? 'DESC' : 'ASC'}`);
  return keys.join(', ');
}

/**
 * The keyset condition "after the cursor" (or before it, for a previous page) in the sort order, with NULLs last.
 * Built as (k1 after c1) OR (k1 = c1 AND ((k2 after c2) OR (k2 = c2 AND … rid after))).
 */
export function keysetCondition(sql: SqlParams, q: string, columns: SortColumn[], cursor: Cursor): string {
  const forward = cursor.direction === 'next';
  let condition = `${q}.rid ${forward ? '>' : '<'} ${sql.add(cursor.rid, 'bigint')}`;
  for (let i = columns.length - 1; i >= 0; i--) {
    const col = `${q}.s${i}`;
    const value = cursor.values[i];
    if (value === null || value === undefined) {
      // NULLs sort last: nothing is after a NULL but other NULLs; everything non-NULL is before it.
      condition = forward
        ? `(${col} IS NULL AND ${condition})`
        : `(${col} IS NOT NULL OR (${col} IS NULL AND ${condition}))`;
      continue;
    }
    const v = sql.add(value, columns[i].cast);
    const greater = columns[i].descending ? '<' : '>';
    const less = columns[i].descending ? '>' : '<';
    const after = forward ? `(${col} ${greater} ${v} OR ${col} IS NULL)` : `${col} ${less} ${v}`;
    condition = `(${after} OR (${col} = ${v} AND ${condition}))`;
  }
  return condition;
}
