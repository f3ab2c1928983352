import type { Repository } from '../core/repository.ts';
import { originOf } from './session.ts';

/** The query planner's estimate of the number of rows a query returns (EXPLAIN: planned, not run). */
export async function plannedRows(repo: Repository, text: string, values: unknown[]): Promise<number> {
  const { rows } = await repo.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
    `EXPLAIN (FORMAT JSON) ${text}`,
    values,
  );
  return Math.round(rows[0]['QUERY PLAN'][0].Plan['Plan Rows']);
}

/** How long a type's estimated size is reused: it changes slowly and only steers the choice of a plan. */
const TYPE_ROWS_TTL_MS = 60_000;
const typeRows = new WeakMap<Repository, Map<string, { rows: number; at: number }>>();

/** The planner's estimate of the live resources of a type, asked at most once a minute per store. */
export async function plannedTypeRows(repo: Repository, resourceType: string): Promise<number> {
  const store = originOf(repo);
  let byType = typeRows.get(store);
  if (!byType) typeRows.set(store, (byType = new Map()));
  const cached = byType.get(resourceType);
  if (cached && Date.now() - cached.at < TYPE_ROWS_TTL_MS) return cached.rows;
  const rows = await plannedRows(repo, 'SELECT 1 FROM resource t WHERE t.resource_type = $1 AND NOT t.deleted', [
    resourceType,
  ]);
  byType.set(resourceType, { rows, at: Date.now() });
  return rows;
}
