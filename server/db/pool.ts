import pg from 'pg';

/** Creates the shared connection pool. Dates stay strings: FHIR instants are formatted by the store itself. */
export function createPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000 });
  // The pool emits errors for idle clients whose connection dropped; log-and-continue is right (a request will retry).
  pool.on('error', () => {});
  return pool;
}

pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (v) => v);
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
