import type { Logger } from 'pino';
import type pg from 'pg';
import { startRuntimeParamSync } from './runtime-params.ts';

/**
 * Starts what the search engine runs beside requests: the sync of runtime SearchParameters (loaded from the database,
 * kept in step across nodes). Returns a function that stops them.
 */
export async function startSearchServices(pool: pg.Pool, databaseUrl: string, log: Logger): Promise<() => Promise<void>> {
  const stopParams = await startRuntimeParamSync(pool, databaseUrl);
  log.debug('search services started');
  return async () => {
    await stopParams();
  };
}
