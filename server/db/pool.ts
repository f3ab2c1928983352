import pg from 'pg';

/** Creates the shared connection pool. Dates stay strings: FHIR instants are formatted by the store itself. */
export function createPool(url: string, max: number): pg.Pool {
  return withHandledErrors(new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000 }));
}

/**
 * Makes a pool's connection errors harmless to the process. The pool emits errors for idle clients whose connection
 * dropped (replaced at the next use); a connection that drops while checked out between two queries (the database
 * stopped mid-transaction) emits 'error' on the client, which without a listener is an uncaught exception: its next
 * query fails instead, and the code holding it answers 503.
 */
export function withHandledErrors(pool: pg.Pool): pg.Pool {
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (v) => v);
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
