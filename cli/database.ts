import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { clusterPassword, passwordFile } from '../server/db/cluster-password.ts';

/**
 * The database a command-line tool works on: `DATABASE_URL`, or the embedded Postgres of a running server
 * (`DATA_DIR`, default `./.data`; `EMBEDDED_PG_PORT`, default 5433), reached with its superuser password.
 */
export function cliDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const dataDir = resolve(env.DATA_DIR ?? '.data');
  if (!existsSync(passwordFile(dataDir)))
    throw new Error(
      `No DATABASE_URL, and no embedded Postgres in ${dataDir}: start the server once, or set DATABASE_URL`,
    );
  const port = env.EMBEDDED_PG_PORT ?? '5433';
  return `postgres://postgres:${encodeURIComponent(clusterPassword(dataDir))}@127.0.0.1:${port}/postgres`;
}
