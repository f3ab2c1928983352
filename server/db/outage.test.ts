import type { ChildProcess } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { postmasterPid, postmastersOf, pgCtl, tempDataDir } from '../../test/embedded-cluster.ts';
import { freePort } from '../../test/global-setup.ts';
import { fhir as fhirAs, startTestServer } from '../../test/harness.ts';
import { ADMIN, adminToken } from '../../test/auth-helpers.ts';
import { startServerProcess } from '../../test/server-process.ts';
import { until } from '../../test/until.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded.ts';
import { isAlive } from './stale-postmaster.ts';

/*
 * The database going away under a running server (issue 13 item 14): /healthz says so, FHIR requests answer 503
 * with an OperationOutcome naming the cause (never 500), and everything works again once the database is back.
 */
const dirs: string[] = [];
const clusters: EmbeddedDatabase[] = [];
const servers: Tributary[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const server of servers) await server.close().catch(() => {});
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const cluster of clusters) await cluster.stop();
  for (const dir of dirs) {
    for (const pid of postmastersOf(join(dir, 'postgres'))) process.kill(pid, 'SIGQUIT');
    rmSync(dir, { recursive: true, force: true });
  }
});

async function health(origin: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${origin}/healthz`);
  return { status: res.status, body: await res.json() };
}

/** A FHIR answer while the database is away: 503 with an OperationOutcome that says so. */
function expectUnavailable(res: { status: number; body: any }): void {
  expect(res.status).toBe(503);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0]).toMatchObject({ severity: 'error', code: 'transient' });
  expect(res.body.issue[0].diagnostics).toMatch(/^The database is unavailable \(.+\); retry shortly$/);
}

const fhir = fhirAs;

describe('with DATABASE_URL', () => {
  it('a stopped database: /healthz 503 with the reason, FHIR 503 OperationOutcomes, then recovery once it is back', async () => {
    const dir = tempDataDir('outage-url');
    dirs.push(dir);
    const pgPort = await freePort();
    const cluster = await startEmbeddedPostgres(dir, pgPort, { keepRunning: false });
    const server = await startTestServer(
      { databaseUrl: cluster.url },
      { AUTH: 'on', ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret, AUTH_RATE_LIMIT: '0' },
    );
    servers.push(server);
    const token = { authorization: `Bearer ${await adminToken(server)}` };
    const fhir = (base: Tributary, method: string, path: string, body?: unknown, headers = token) =>
      fhirAs(base, method, path, body, headers);
    const created = await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Before' }] });
    expect(created.status).toBe(201);
    expect(await health(server.url)).toMatchObject({ status: 200, body: { status: 'ok', database: 'up' } });

    await pgCtl(cluster.clusterDir, 'stop', '-m', 'immediate');
    const down = await until(
      async () => ((await health(server.url)).status === 503 ? health(server.url) : undefined),
      10_000,
      '/healthz 503',
    );
    expect(down.body).toMatchObject({ status: 'unavailable', database: 'down' });
    expect(down.body.reason).toMatch(/^The database is unavailable: .+/);
    expect(down.body.reason).not.toContain(String(pgPort)); // no address of the database on a public endpoint

    expectUnavailable(await fhir(server, 'GET', `Patient/${created.body.id}`));
    expectUnavailable(await fhir(server, 'GET', 'Patient?family=Before'));
    expectUnavailable(await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' }));
    const entry = { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } };
    expectUnavailable(await fhir(server, 'POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [entry] }));
    // A batch too: while the database (and with it the revocation listener) is away, no token is taken from the
    // cache (a revocation could not be heard), so the request is refused at admission, before its entries run.
    expectUnavailable(await fhir(server, 'POST', '', { resourceType: 'Bundle', type: 'batch', entry: [entry] }));
    // A token that cannot be looked up is not called invalid (401 would make the client drop it): 503 too.
    expectUnavailable(
      await fhir(server, 'GET', `Patient/${created.body.id}`, undefined, { authorization: 'Bearer not-yet-known' }),
    );

    const again = await startEmbeddedPostgres(dir, pgPort, { keepRunning: false });
    clusters.push(again);
    await until(async () => (await health(server.url)).status === 200, 15_000, '/healthz 200 again');
    expect((await fhir(server, 'GET', `Patient/${created.body.id}`)).status).toBe(200);
    expect((await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' })).status).toBe(201);
  });

  it('terminated backends: no 500, and the next requests are served', async () => {
    const server = await startTestServer();
    servers.push(server);
    const created = await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' });
    // Several connections in the pool, then all of this database's backends terminated (an operator's or a failover's doing).
    await Promise.all(Array.from({ length: 6 }, () => fhir(server, 'GET', `Patient?_id=${created.body.id}`)));
    const admin = new pg.Client({ connectionString: server.pool.options.connectionString });
    await admin.connect();
    const { rowCount } = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    await admin.end();
    expect(rowCount).toBeGreaterThanOrEqual(2);

    const answers = await Promise.all(
      Array.from({ length: 8 }, () => fhir(server, 'GET', `Patient/${created.body.id}`)),
    );
    for (const res of answers) {
      if (res.status !== 200) expectUnavailable(res);
    }
    await until(
      async () => (await fhir(server, 'GET', `Patient/${created.body.id}`)).status === 200,
      10_000,
      'reads served again',
    );
    await until(async () => (await health(server.url)).status === 200, 10_000, '/healthz 200 again');
  });
});

describe('with the embedded Postgres', () => {
  it('stopped under the server (pg_ctl stop -m immediate): 503s meanwhile, started again by the server, data intact', async () => {
    const dataDir = tempDataDir('outage-embedded');
    dirs.push(dataDir);
    const clusterDir = join(dataDir, 'postgres');
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const server = await startServerProcess('', port, {
      DATABASE_URL: '',
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(await freePort()),
    });
    children.push(server.child);
    const base = { fhirBase: `${origin}/fhir` };
    const created = await fhir(base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Kept' }] });
    expect(created.status).toBe(201);
    const first = postmasterPid(clusterDir)!;

    // Without its configuration file the cluster cannot start again: the outage lasts until the file is back.
    renameSync(join(clusterDir, 'postgresql.conf'), join(clusterDir, 'postgresql.conf.away'));
    await pgCtl(clusterDir, 'stop', '-m', 'immediate');
    expect(isAlive(first)).toBe(false);
    const down = await until(
      async () => ((await health(origin)).status === 503 ? health(origin) : undefined),
      10_000,
      '/healthz 503',
    );
    expect(down.body).toMatchObject({ status: 'unavailable', database: 'down' });
    expectUnavailable(await fhir(base, 'GET', `Patient/${created.body.id}`));
    await until(async () => /did not start again/.test(server.logs()) || undefined, 10_000, 'a failed restart');

    renameSync(join(clusterDir, 'postgresql.conf.away'), join(clusterDir, 'postgresql.conf'));
    await until(async () => (await health(origin)).status === 200, 30_000, '/healthz 200 again');
    const second = postmasterPid(clusterDir)!;
    expect(second).not.toBe(first);
    expect(postmastersOf(clusterDir)).toEqual([second]);
    const read = await fhir(base, 'GET', `Patient/${created.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body.name).toEqual([{ family: 'Kept' }]);
    expect(server.logs()).toMatch(/the embedded Postgres exited; starting it again/);
  });
});
