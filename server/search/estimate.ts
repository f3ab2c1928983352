import type { Repository } from '../store/repository.ts';

/** The query planner's estimate of the number of rows a query returns (EXPLAIN: planned, not run). */
export async function plannedRows(repo: Repository, text: string, values: unknown[]): Promise<number> {
  const { rows } = await repo.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(`EXPLAIN (FORMAT JSON) ${text}`, values);
  return Math.round(rows[0]['QUERY PLAN'][0].Plan['Plan Rows']);
}
