import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { EmbeddedPostgresError } from './cluster-init.ts';

/** Where the embedded cluster's superuser password is kept, inside `DATA_DIR`. */
export function passwordFile(dataDir: string): string {
  return join(dataDir, 'postgres-password');
}

/** The fixed password of clusters made before each data directory got its own (migrated at their next start). */
const LEGACY_PASSWORD = 'postgres';

/**
 * The superuser password of the embedded cluster in `dataDir`: read from `DATA_DIR/postgres-password`, or made up
 * (32 random bytes) and written there, readable by its owner only (0600; looser permissions are tightened).
 */
export function clusterPassword(dataDir: string): string {
  const file = passwordFile(dataDir);
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const password = readFileSync(file, 'utf8').trim();
  if (!password)
    throw new EmbeddedPostgresError(`${file} is empty; delete it only together with the cluster beside it`);
  return password;
}

/** What happened when the password was checked. */
export type PasswordCheck = 'ok' | 'migrated';

/**
 * Checks that the running cluster accepts `password`. A cluster made by an older Tributary still has the fixed
 * password `postgres`: it is switched to `password` (and its `pg_hba.conf` from cleartext `password` to SCRAM).
 */
export async function ensureClusterPassword(
  port: number,
  password: string,
  dataDir: string,
  clusterDir: string,
): Promise<PasswordCheck> {
  const client = await connect(port, password).catch(async (err: { code?: string }) => {
    if (err.code !== '28P01') throw err;
    const legacy = await connect(port, LEGACY_PASSWORD).catch(() => undefined);
    if (!legacy) {
      throw new EmbeddedPostgresError(
        `The embedded Postgres in ${clusterDir} does not accept the password in ${passwordFile(dataDir)}; restore that file (it belongs to this cluster)`,
      );
    }
    await migrate(legacy, password, clusterDir);
    return undefined;
  });
  if (!client) return 'migrated';
  await client.end();
  return 'ok';
}

async function connect(port: number, password: string): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', password });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
}

async function migrate(client: pg.Client, password: string, clusterDir: string): Promise<void> {
  try {
    await client.query(`ALTER ROLE postgres PASSWORD ${client.escapeLiteral(password)}`);
    const hbaFile = join(clusterDir, 'pg_hba.conf');
    const hba = await readFile(hbaFile, 'utf8');
    const scram = hba.replace(/^(\s*(?:local|host)\s.*\s)password(\s*)$/gm, '$1scram-sha-256$2');
    if (scram !== hba) {
      await writeFile(hbaFile, scram);
      await client.query('SELECT pg_reload_conf()');
    }
  } finally {
    await client.end();
  }
}
