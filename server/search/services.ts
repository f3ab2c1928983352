import pg from 'pg';
import { useSearchConfig, type SearchConfig } from './config.ts';
import type { RuntimeSearchParams } from '../fhir/search-params/runtime-params.ts';
import { registerSearchConnections } from './session.ts';
import { withHandledErrors } from '../db/pool.ts';

/**
 * Starts what the search engine runs beside requests: the sync of runtime SearchParameters (`runtimeParams`, loaded
 * from the database, kept in step across nodes), the pool searches run on (their own connections, opened with
 * the search timeout as `statement_timeout`, so that slow searches never hold the connections writes and reads need),
 * and the connections that cancel the statements of searches whose client went away or whose time ran out (their
 * own too, so a cancel never waits for a busy pool). Installs the search limits. `$reindex` runs on the job runner
 * (server/search/reindex/handlers.ts). Returns a function that stops them.
 */
export async function startSearchServices(
  pool: pg.Pool,
  databaseUrl: string,
  config: SearchConfig,
  runtimeParams: RuntimeSearchParams,
): Promise<() => Promise<void>> {
  useSearchConfig(config);
  await runtimeParams.start(pool, databaseUrl);
  // Idle connections that drop are replaced by the pools at the next use.
  const searches = withHandledErrors(
    new pg.Pool({
      connectionString: databaseUrl,
      max: config.poolSize,
      idleTimeoutMillis: 30_000,
      statement_timeout: config.timeoutMs || undefined,
    }),
  );
  const control = withHandledErrors(new pg.Pool({ connectionString: databaseUrl, max: 2, idleTimeoutMillis: 10_000 }));
  registerSearchConnections(pool, {
    pool: searches,
    cancel: async (pid) => {
      await control.query('SELECT pg_cancel_backend($1)', [pid]);
    },
  });
  return async () => {
    await runtimeParams.stop();
    await searches.end();
    await control.end();
  };
}
