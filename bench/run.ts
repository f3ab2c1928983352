/**
 * The benchmark of issue 2, one command that prints one table: `npm run bench` (or `npx tsx bench/run.ts`).
 *
 *   npm run bench -- [--duration 10] [--connections 16] [--parallel 2] [--rounds 1] [--embedded] [--no-auth]
 *   npm run bench -- --against <other checkout> [--duration …] [--rounds …]   (before/after, bench/compare.ts)
 *
 * Tributary runs as its own process (`server/main.ts`) on a fresh database of the machine's Postgres
 * (`$DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/postgres; `--embedded` starts an embedded one
 * instead), dropped at the end. The headline (`--auth`, the default): read by id, create and update with AUTH on and
 * AUDIT on and a confined backend client's token (`system/Patient.cruds system/Observation.rs`), each beside the same
 * lane on a second server with AUTH=off, run right after it, and the time the audit trail then needs to index what
 * it queued. Each AUTH=off lane also runs against the physical limit of the same work on this machine: Synthea
 * transaction ingest (resources/s, AUTH=off) against a raw multi-row INSERT of the same JSON rows into a bare table;
 * read by id, create and update (autocannon, `--connections`) against a bare `node:http` + `pg` server
 * (bench/baseline-server.ts). `--no-auth` leaves the AUTH-on server out.
 * Then the server's RSS, and start-up times on a fresh embedded data directory (first start, restart).
 * `--rounds n` repeats the lanes and reports medians. Traffic goes to 127.0.0.1 only.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freePort } from '../test/global-setup.ts';
import { startServerProcess } from '../test/server-process.ts';
import { benchDatabase, benchPostgres } from './bench-db.ts';
import { httpLane, ingestLane, loadSyntheaBundles, rawInsertLane, type HttpFigures, type HttpLane } from './lanes.ts';
import { startupLane, stopProcess } from './startup.ts';
import { compareCheckouts } from './compare.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    parallel: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '1' },
    embedded: { type: 'boolean', default: false },
    auth: { type: 'boolean', default: true },
    against: { type: 'string' },
  },
  allowNegative: true,
});
const seconds = Number(args.duration);
const connections = Number(args.connections);
const parallel = Number(args.parallel);
const rounds = Number(args.rounds);
const warmup = Math.min(2, Math.max(1, Math.round(seconds / 5)));
const ROOT = resolve(import.meta.dirname, '..');
const ADMIN = { id: 'bench-admin', secret: 'bench-admin-secret-0123456789abcdef' };
/** The headline lanes' client: a backend service confined to two types, not a system-wide one. */
const CONFINED_SCOPE = 'system/Patient.cruds system/Observation.rs';

function bundleDir(): string {
  const shared = resolve(process.env.FHIR_TESTDATA ?? resolve(ROOT, '../shared/data'), 'synthea/bundles');
  return existsSync(shared) ? shared : resolve(ROOT, 'test/fixtures/synthea');
}

/** Starts bench/baseline-server.ts as its own process and waits for /healthz. */
async function startBaseline(databaseUrl: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/baseline-server.ts'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), DB_POOL_SIZE: '10' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('the baseline server did not start');
}

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function token(origin: string, client = ADMIN, scope = 'system/*.*'): Promise<string> {
  const res = await fetch(`${origin}/auth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: `grant_type=client_credentials&scope=${encodeURIComponent(scope)}`,
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Registers a backend client confined to `scope` (admin API) and returns a token of it. */
async function confinedToken(origin: string, scope: string): Promise<string> {
  const res = await fetch(`${origin}/auth/admin/clients`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token(origin)}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'bench (confined)',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope,
    }),
  });
  const client = (await res.json()) as { client_id: string; client_secret: string };
  return token(origin, { id: client.client_id, secret: client.client_secret }, scope);
}

/** Waits until the audit trail's queue is empty (its indexer made AuditEvents of it); returns the events and seconds. */
async function auditDrain(client: pg.Client): Promise<{ events: number; seconds: number }> {
  const count = async () => Number((await client.query('SELECT count(*) AS n FROM audit_queue')).rows[0].n);
  const events = await count();
  const start = performance.now();
  while ((await count()) > 0) await new Promise((r) => setTimeout(r, 100));
  return { events, seconds: (performance.now() - start) / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const medianHttp = (fs: HttpFigures[]): HttpFigures => ({
  rps: median(fs.map((f) => f.rps)),
  p50: median(fs.map((f) => f.p50)),
  p99: median(fs.map((f) => f.p99)),
  bad: fs.reduce((n, f) => n + f.bad, 0),
  cpu: median(fs.map((f) => f.cpu)),
});
const num = (n: number) => Math.round(n).toLocaleString('en-US');
const http = (f: HttpFigures) =>
  `${num(f.rps)} req/s, p50 ${f.p50} ms, p99 ${f.p99} ms, ${num(f.cpu)} µs CPU/req${f.bad ? ` (${f.bad} non-2xx/errors)` : ''}`;
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

async function main(): Promise<void> {
  const load = loadavg();
  const bundles = loadSyntheaBundles(bundleDir());
  const resources = bundles.reduce((n, b) => n + b.rows.length, 0);
  const pgServer = await benchPostgres(
    process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    args.embedded,
  );
  const db = await benchDatabase(pgServer.adminUrl);
  const servers: ChildProcess[] = [];
  const rows: string[][] = [];
  try {
    const ourPort = await freePort();
    const ours = await startServerProcess(db.url, ourPort, { AUTH: 'off', DB_POOL_SIZE: '10' });
    servers.push(ours.child);
    const origin = `http://127.0.0.1:${ourPort}`;
    const basePort = await freePort();
    const baseline = await startBaseline(db.url, basePort);
    servers.push(baseline);
    const ourPid = ours.child.pid as number;
    const basePid = baseline.pid as number;
    const baseOrigin = `http://127.0.0.1:${basePort}`;

    // Warm-up, not counted: the first writes load the validation schema and definitions, and the JIT settles.
    await ingestLane(`${origin}/fhir`, ourPid, bundles, warmup, parallel);
    await rawInsertLane(db.url, bundles, warmup, parallel);
    let authed: { origin: string; pid: number; authorization: string } | undefined;
    if (args.auth) {
      const authPort = await freePort();
      const server = await startServerProcess(db.url, authPort, {
        AUTH: 'on',
        AUDIT: 'on',
        ADMIN_CLIENT_ID: ADMIN.id,
        ADMIN_CLIENT_SECRET: ADMIN.secret,
        API_RATE_LIMIT: '0',
        AUTH_RATE_LIMIT: '0',
        DB_POOL_SIZE: '10',
      });
      servers.push(server.child);
      const authOrigin = `http://127.0.0.1:${authPort}`;
      const authorization = `Bearer ${await confinedToken(authOrigin, CONFINED_SCOPE)}`;
      authed = { origin: authOrigin, pid: server.child.pid as number, authorization };
    }
    const results = {
      ingest: [] as { rate: number; cpu: number }[],
      raw: [] as number[],
      lanes: new Map<string, { ours: HttpFigures[]; base: HttpFigures[]; on: HttpFigures[] }>(),
      auditDrains: [] as { events: number; seconds: number }[],
    };

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    for (let round = 0; round < rounds; round++) {
      results.ingest.push(await ingestLane(`${origin}/fhir`, ourPid, bundles, seconds, parallel));
      results.raw.push(await rawInsertLane(db.url, bundles, seconds, parallel));
      const stored = await client.query<{ id: string; content: string }>(
        "SELECT id, content FROM resource WHERE resource_type = 'Patient' AND NOT deleted ORDER BY rid LIMIT 200",
      );
      const patients = stored.rows;
      const { id: _id, meta: _meta, ...newPatient } = JSON.parse(patients[0].content);
      const fhirHeaders = {
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
        prefer: 'return=minimal',
      };
      const lanes: [string, HttpLane][] = [
        [
          'read by id (GET Patient/[id])',
          {
            method: 'GET',
            headers: fhirHeaders,
            next: (n) => ({ path: `/fhir/Patient/${patients[n % patients.length].id}` }),
          },
        ],
        [
          'create (POST Patient)',
          {
            method: 'POST',
            headers: fhirHeaders,
            next: () => ({ path: '/fhir/Patient', body: JSON.stringify(newPatient) }),
          },
        ],
        [
          'update (PUT Patient/[id])',
          {
            method: 'PUT',
            headers: fhirHeaders,
            next: (n) => ({
              path: `/fhir/Patient/${patients[n % patients.length].id}`,
              body: patients[n % patients.length].content,
            }),
          },
        ],
      ];
      for (const [name, lane] of lanes) {
        const slot = results.lanes.get(name) ?? { ours: [], base: [], on: [] };
        if (authed) {
          const headers = { ...lane.headers, authorization: authed.authorization };
          slot.on.push(await httpLane(authed.origin, authed.pid, { ...lane, headers }, seconds, connections, warmup));
          // The AuditEvents it queued are indexed before the next lane, so that work does not fall on the next lane.
          results.auditDrains.push(await auditDrain(client));
        }
        slot.ours.push(await httpLane(origin, ourPid, lane, seconds, connections, warmup));
        slot.base.push(await httpLane(baseOrigin, basePid, lane, seconds, connections, warmup));
        results.lanes.set(name, slot);
      }
    }
    await client.end();
    const memory = memoryOf(ours.child.pid as number);

    const ingest = median(results.ingest.map((r) => r.rate));
    const ingestCpu = median(results.ingest.map((r) => r.cpu));
    const raw = median(results.raw);
    rows.push([
      'Synthea transaction ingest',
      `${num(ingest)} resources/s, ${num(ingestCpu)} µs CPU/resource`,
      `${num(raw)} rows/s (multi-row INSERT, bare table)`,
      (ingest / raw).toFixed(2),
      '≥ 2,000 resources/s',
      verdict(ingest >= 2000),
    ]);
    for (const [name, { ours: o, base: b, on }] of results.lanes) {
      const mine = medianHttp(o);
      const limit = medianHttp(b);
      const isRead = name.startsWith('read by id (');
      if (on.length > 0) {
        const safe = medianHttp(on);
        rows.push([
          `${name}, AUTH on + AUDIT on (confined token)`,
          http(safe),
          `AUTH=off, run right after: ${http(mine)}`,
          (safe.rps / mine.rps).toFixed(2),
          isRead ? '≥ 0.8 of AUTH=off' : '',
          isRead ? verdict(safe.rps >= 0.8 * mine.rps) : '',
        ]);
      }
      rows.push([
        `${name}, AUTH=off`,
        http(mine),
        `${http(limit)} (node:http + pg)`,
        (mine.rps / limit.rps).toFixed(2),
        isRead ? '≥ 5,000 req/s' : '',
        isRead ? verdict(mine.rps >= 5000) : '',
      ]);
    }
    if (results.auditDrains.length > 0) {
      const events = results.auditDrains.reduce((n, d) => n + d.events, 0);
      const secs = results.auditDrains.reduce((n, d) => n + d.seconds, 0);
      rows.push([
        'audit trail: AuditEvents still queued after the AUTH-on lanes, indexed before the next lane',
        `${num(events)} events in ${secs.toFixed(1)} s`,
        '',
        '',
        '',
        '',
      ]);
    }
    rows.push([
      'server RSS',
      `${num(memory.rss)} MB after the lanes (peak ${num(memory.peak)} MB)`,
      '',
      '',
      '≤ 300 MB',
      verdict(memory.peak <= 300),
    ]);
  } finally {
    for (const child of servers) await stopProcess(child);
    await db.drop();
    await pgServer.stop();
  }
  const start = await startupLane();
  rows.push([
    'first start, fresh embedded data dir → /healthz 200',
    `${(start.firstMs / 1000).toFixed(1)} s`,
    '',
    '',
    '≤ 10 s',
    verdict(start.firstMs <= 10_000),
  ]);
  rows.push([
    'restart → /healthz 200',
    `${(start.restartMs / 1000).toFixed(1)} s`,
    '',
    '',
    '≤ 3 s',
    verdict(start.restartMs <= 3000),
  ]);
  rows.push([
    'restart right after a SIGKILL → /healthz 200',
    `${(start.killedRestartMs / 1000).toFixed(1)} s`,
    '',
    '',
    '≤ 3 s',
    verdict(start.killedRestartMs <= 3000),
  ]);
  execFileSync('npm', ['run', 'build'], { stdio: 'ignore' });
  const built = await startupLane('start:built');
  rows.push([
    'first start of the build (npm run start:built)',
    `${(built.firstMs / 1000).toFixed(1)} s`,
    `from source: ${(start.firstMs / 1000).toFixed(1)} s`,
    (start.firstMs / built.firstMs).toFixed(2),
    '≤ 10 s',
    verdict(built.firstMs <= 10_000),
  ]);
  rows.push([
    'restart of the build',
    `${(built.restartMs / 1000).toFixed(1)} s`,
    `from source: ${(start.restartMs / 1000).toFixed(1)} s`,
    (start.restartMs / built.restartMs).toFixed(2),
    '≤ 3 s',
    verdict(built.restartMs <= 3000),
  ]);

  const end = loadavg();
  console.log(
    `Tributary benchmark: ${cpus().length} CPUs, load average ${load.map((l) => l.toFixed(2)).join(' ')} at start, ${end.map((l) => l.toFixed(2)).join(' ')} at end`,
  );
  console.log(
    `${pgServer.label}, fresh database dropped after; servers are child processes on 127.0.0.1 (LOG_LEVEL=warn: no per-request log lines), DB pool 10`,
  );
  console.log(
    `${args.auth ? `Headline lanes with AUTH on, AUDIT on and a confined client's token (${CONFINED_SCOPE}), each beside AUTH=off; ` : ''}ingest and physical-limit comparisons with AUTH=off (no authorization, no audit); ${seconds} s per lane after ${warmup} s warm-up; ${connections} connections; writes with Prefer: return=minimal; ${rounds > 1 ? `medians of ${rounds} rounds` : '1 round'}`,
  );
  console.log(
    `Ingest: ${bundles.length} Synthea patient bundles (${num(resources)} resources) from ${bundleDir()}, ${parallel} transactions at a time, repeated for the lane's duration\n`,
  );
  console.log('| lane | Tributary | physical limit | ratio | target | |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

if (args.against) {
  await compareCheckouts(
    {
      against: args.against,
      bundles: loadSyntheaBundles(bundleDir()),
      seconds,
      warmup,
      connections,
      parallel,
      rounds,
      adminUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      embedded: args.embedded,
    },
    ROOT,
  );
} else {
  await main();
}
