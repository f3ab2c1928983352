import type { Logger } from 'pino';
import type pg from 'pg';
import { registerReindexWorker } from './reindex/handlers.ts';
import { startReindexWorker } from './reindex/jobs.ts';
import { startRuntimeParamSync } from './runtime-params.ts';

/**
 * Starts what the search engine runs beside requests: the sync of runtime SearchParameters (loaded from the database,
 * kept in step across nodes) and the `$reindex` worker. Returns a function that stops them.
 */
export async function startSearchServices(pool: pg.Pool, databaseUrl: string, log: Logger): Promise<() => Promise<void>> {
  const stopParams = await startRuntimeParamSync(pool, databaseUrl);
  const worker = startReindexWorker(pool, (err) => log.error({ err }, '$reindex job failed'));
  registerReindexWorker(pool, worker.kick);
  return async () => {
    await worker.stop();
    await stopParams();
  };
}
