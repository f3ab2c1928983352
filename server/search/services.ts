import type pg from 'pg';
import { startRuntimeParamSync } from './runtime-params.ts';

/**
 * Starts what the search engine runs beside requests: the sync of runtime SearchParameters (loaded from the database,
 * kept in step across nodes). `$reindex` runs on the job runner (server/search/reindex/handlers.ts). Returns a
 * function that stops it.
 */
export async function startSearchServices(pool: pg.Pool, databaseUrl: string): Promise<() => Promise<void>> {
  return startRuntimeParamSync(pool, databaseUrl);
}
