import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postmasterPid, postmastersOf, pgCtl, tempDataDir } from '../../test/embedded-cluster.ts';
import { freePort } from '../../test/global-setup.ts';
import { startServerProcess } from '../../test/server-process.ts';
import { clusterPassword, passwordFile } from './cluster-password.ts';
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedDatabase } from './embedded.ts';
import { isAlive } from './stale-postmaster.ts';

/*
 * The embedded Postgres's life: its own superuser password per data directory (issue 13 item 6) and a clean start
 * whatever a previous server left behind (item 13). One cluster serves the tests in turn; each leaves it stopped.
 */
const dataDir = tempDataDir('embedded');
const clusterDir = join(dataDir, 'postgres');
let port: number;
const children: ChildProcess[] = [];
/** The cluster a test started in this process; stopped after each test, whatever its outcome. */
let db: EmbeddedDatabase | undefined;

async function connects(password: string): Promise<boolean | string> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', password });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

/** Starts `npm start`'s server on the test's data directory; rejects with its stderr when it exits instead. */
async function serverOnDataDir(env: Record<string, string> = {}): Promise<ChildProcess> {
  const { child } = await startServerProcess('', await freePort(), {
    DATABASE_URL: '',
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(port),
    ...env,
  });
  children.push(child);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  port = await freePort();
});
afterEach(async () => {
  await db?.stop();
  db = undefined;
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of postmastersOf(clusterDir)) process.kill(pid, 'SIGQUIT');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the embedded Postgres password', () => {
  it('is made up for each data directory and kept owner-only; the superuser no longer answers to "postgres"', async () => {
    db = await startEmbeddedPostgres(dataDir, port, { keepRunning: false });
    const file = passwordFile(dataDir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(40);
    expect(db.url).toContain(encodeURIComponent(password));
    expect(await connects(password)).toBe(true);
    expect(await connects('postgres')).toBe('28P01');
    expect(readFileSync(join(clusterDir, 'pg_hba.conf'), 'utf8')).not.toMatch(/^(local|host)\s.*\spassword\s*$/m);

    const other = tempDataDir('embedded-other');
    try {
      expect(clusterPassword(other)).not.toBe(password);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('of a data directory made by an older version (fixed password, no password file) is changed at start', async () => {
    db = await startEmbeddedPostgres(dataDir, port, { keepRunning: false });
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`ALTER ROLE postgres PASSWORD 'postgres'`);
    await admin.end();
    const hba = join(clusterDir, 'pg_hba.conf');
    writeFileSync(hba, readFileSync(hba, 'utf8').replace(/scram-sha-256\s*$/gm, 'password'));
    await db.stop();
    unlinkSync(passwordFile(dataDir));

    db = await startEmbeddedPostgres(dataDir, port, { keepRunning: false });
    const password = readFileSync(passwordFile(dataDir), 'utf8').trim();
    expect(password).not.toBe('postgres');
    expect(await connects(password)).toBe(true);
    expect(await connects('postgres')).toBe('28P01');
    expect(readFileSync(hba, 'utf8')).toMatch(/^host\s+all\s+all\s+127\.0\.0\.1\/32\s+scram-sha-256$/m);
  });
});

describe('a postmaster left behind', () => {
  it('by a server that died is stopped, and the new one starts', async () => {
    // What a SIGKILLed server of older versions left: a postmaster with nobody watching it (pg_ctl daemonises it).
    await pgCtl(
      clusterDir,
      'start',
      '-w',
      '-l',
      join(clusterDir, 'orphan.log'),
      '-o',
      `-p ${port} -c listen_addresses=127.0.0.1`,
    );
    const orphan = postmasterPid(clusterDir)!;
    expect(isAlive(orphan)).toBe(true);

    db = await startEmbeddedPostgres(dataDir, port, { keepRunning: false });
    expect(isAlive(orphan)).toBe(false);
    expect(postmastersOf(clusterDir)).toEqual([postmasterPid(clusterDir)]);
    expect(postmasterPid(clusterDir)).not.toBe(orphan);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
    await db.stop();
    db = undefined;
    expect(postmastersOf(clusterDir)).toEqual([]);
  });

  it('by a pid file whose process id now belongs to another program is ignored', async () => {
    writeFileSync(join(clusterDir, 'postmaster.pid'), `${process.pid}\n${clusterDir}\n0\n${port}\n`);
    db = await startEmbeddedPostgres(dataDir, port, { keepRunning: false });
    expect(postmasterPid(clusterDir)).not.toBe(process.pid);
  });

  it('by a running server is not touched: a second server on the same DATA_DIR stops with one clear line', async () => {
    await serverOnDataDir();
    const running = postmasterPid(clusterDir)!;
    await expect(startEmbeddedPostgres(dataDir, await freePort(), { keepRunning: false })).rejects.toThrow(
      EmbeddedPostgresError,
    );
    const second = await serverOnDataDir().then(
      () => 'started',
      (err: Error) => err.message,
    );
    expect(second).toMatch(
      /^server exited early: Tributary could not start: .*postgres is in use by the embedded Postgres of another running Tributary \(process \d+\)/,
    );
    expect(second.trim().split('\n')).toHaveLength(1);
    expect(postmasterPid(clusterDir)).toBe(running);
    expect(isAlive(running)).toBe(true);
  });
});

describe('a start-up failure of the embedded Postgres', () => {
  let blocker: Server;
  afterAll(() => blocker?.close());

  it('is one clear line, e.g. when its port is taken', async () => {
    // The server of the test before stops (SIGTERM: it stops its cluster) and leaves the data directory free.
    await Promise.all(children.map((child) => stopChild(child)));
    const taken = await freePort();
    blocker = createServer();
    await new Promise<void>((done) => blocker.listen(taken, '127.0.0.1', done));
    const failure = await startServerProcess('', await freePort(), {
      DATABASE_URL: '',
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(taken),
    }).then(
      ({ child }) => {
        children.push(child);
        return 'started';
      },
      (err: Error) => err.message,
    );
    expect(failure).toMatch(
      /^server exited early: Tributary could not start: The embedded Postgres \(.*\) did not start \(.*\): .*could not bind IPv4 address "127\.0\.0\.1": Address already in use/,
    );
    expect(failure.trim().split('\n')).toHaveLength(1);
    expect(failure).not.toContain('undefined');
  });
});
