import { badRequest } from '../server/fhir/outcomes.ts';
import type { Queryable } from './model.ts';

/**
 * Runs a terminology statement; a regular expression Postgres cannot compile (a `regex` filter, user input) is the
 * caller's mistake (400), not the server's.
 */
export async function runSql<R extends object>(db: Queryable, sql: string, params: unknown[]): Promise<R[]> {
  try {
    return (await db.query<R>(sql, params)).rows;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '2201B') throw badRequest(`Invalid regular expression: ${(err as Error).message}`);
    throw err;
  }
}
