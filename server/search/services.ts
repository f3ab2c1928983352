import type { Logger } from 'pino';
import pg from 'pg';
import { useSearchConfig, type SearchConfig } from './config.ts';
import { registerReindexWorker } from './reindex/handlers.ts';
import { startReindexWorker } from './reindex/jobs.ts';
import { startRuntimeParamSync } from './runtime-params.ts';
import { registerCanceller } from './session.ts';

/**
 * Starts what the search engine runs beside requests: the sync of runtime SearchParameters (loaded from the database,
 * kept in step across nodes), the `$reindex` worker, and the connections that cancel the statements of searches
 * whose client went away or whose time ran out (their own, so a cancel never waits for a busy pool). Installs the
 * search limits. Returns a function that stops them.
 */
export async function startSearchServices(pool: pg.Pool, databaseUrl: string, log: Logger, config: SearchConfig): Promise<() => Promise<void>> {
  useSearchConfig(config);
  const stopParams = await startRuntimeParamSync(pool, databaseUrl);
  const worker = startReindexWorker(pool, (err) => log.error({ err }, '$reindex job failed'));
  registerReindexWorker(pool, worker.kick);
  const control = new pg.Pool({ connectionString: databaseUrl, max: 2, idleTimeoutMillis: 10_000 });
  control.on('error', () => {}); // an idle control connection that drops is replaced at the next cancel
  registerCanceller(pool, async (pid) => {
    await control.query('SELECT pg_cancel_backend($1)', [pid]);
  });
  return async () => {
    await worker.stop();
    await stopParams();
    await control.end();
  };
}
