/**
 * Search denial-of-service soak (issue 13 item 7). One command, one table:
 *
 *   npx tsx bench/search-dos.ts [--resources 100000] [--rounds 3] [--readers 4] [--baseline-seconds 10]
 *                               [--timeout-ms 5000] [--bound-mb 256] [--database name] [--keep] [--embedded]
 *
 * Loads Synthea-shaped patients (bench/synthea-clone.ts, from $FHIR_TESTDATA/synthea/bundles, default
 * ../shared/data) into a fresh database on $DATABASE_URL (default the local Postgres) up to `--resources`, or reuses
 * a kept one (`--database`, grown to `--resources` when smaller); starts Tributary as its own process (as
 * `npm start`, AUTH=off, SEARCH_TIMEOUT_MS=`--timeout-ms`); measures normal reads alone (`--readers` clients reading
 * patients and their Observations); then runs the pathological corpus (bench/search-dos-corpus.ts) `--rounds` times,
 * one query at a time, while the readers go on, and a client that disconnects in the middle of a full-text scan;
 * then the readers alone again (the machine's other load moves between the phases; compare the three).
 * Per query: statuses, p50 and max duration, the peak private memory (RssAnon) of any Postgres backend of the
 * database while it ran, and the verdict: refused queries answer 400 within a second, the others 200 (or 503 at the
 * timeout) within the timeout plus a second, and no backend goes over `--bound-mb`. Then the readers' throughput and
 * p99 alone and during the corpus, and how long a disconnected search's statement kept running.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate } from '../server/db/migrate.ts';
import { createPool } from '../server/db/pool.ts';
import { loadDefinitions } from '../server/fhir/definitions.ts';
import { freePort } from '../test/global-setup.ts';
import { startServerProcess } from '../test/server-process.ts';
import { benchPostgres } from './bench-db.ts';
import { BackendMemory } from './pg-memory.ts';
import { DOS_CORPUS, readDosFacts, type DosFacts } from './search-dos-corpus.ts';
import { loadUpTo } from './search-load.ts';
import { loadTemplates } from './synthea-clone.ts';

const { values: args } = parseArgs({
  options: {
    resources: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    readers: { type: 'string', default: '4' },
    'baseline-seconds': { type: 'string', default: '10' },
    'timeout-ms': { type: 'string', default: '5000' },
    'bound-mb': { type: 'string', default: '256' },
    database: { type: 'string' },
    keep: { type: 'boolean', default: false },
    embedded: { type: 'boolean', default: false },
  },
});
const timeoutMs = Number(args['timeout-ms']);
const boundMb = Number(args['bound-mb']);
const dataDir = process.env.FHIR_TESTDATA ?? '../shared/data';
const machineUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

/** Clients doing normal reads in a loop: a patient by id, then its latest Observations. */
class Readers {
  private running = false;
  private latencies: number[] = [];
  private failures = 0;
  private loops: Promise<void>[] = [];
  private started = 0;

  constructor(
    private readonly base: string,
    private readonly facts: DosFacts,
    private readonly count: number,
  ) {}

  start(): void {
    this.running = true;
    this.latencies = [];
    this.failures = 0;
    this.started = performance.now();
    this.loops = Array.from({ length: this.count }, (_, k) => this.loop(k));
  }

  async stop(): Promise<{ perSecond: number; p50: number; p99: number; failures: number }> {
    this.running = false;
    await Promise.all(this.loops);
    const seconds = (performance.now() - this.started) / 1000;
    const sorted = this.latencies.sort((a, b) => a - b);
    return {
      perSecond: sorted.length / seconds,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      failures: this.failures,
    };
  }

  private async loop(k: number): Promise<void> {
    for (let n = k; this.running; n++) {
      const patient = this.facts.patients[n % this.facts.patients.length].id;
      const path = n % 2 ? `Patient/${patient}` : `Observation?patient=${patient}&_count=10&_sort=-date`;
      const t0 = performance.now();
      const res = await fetch(`${this.base}/${path}`).catch(() => undefined);
      await res?.arrayBuffer();
      this.latencies.push(performance.now() - t0);
      if (res?.status !== 200) this.failures++;
    }
  }
}

/** Runs one query, timing it; the client gives up at three times the search timeout (the row then fails). */
async function timed(base: string, path: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/${path}`, { signal: AbortSignal.timeout(3 * timeoutMs) }).catch(() => undefined);
  await res?.arrayBuffer();
  return { status: res?.status ?? 0, ms: performance.now() - t0 };
}

/** Starts a full-text scan of every type, disconnects once its statement runs, and times how long it runs on. */
async function disconnectProbe(base: string, admin: pg.Pool, database: string): Promise<number> {
  const scans = async () =>
    (
      await admin.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid() AND strpos(query, 'to_tsvector') > 0`,
        [database],
      )
    ).rowCount ?? 0;
  const client = new AbortController();
  const request = fetch(`${base}/?_content=zzyzx`, { signal: client.signal }).catch(() => undefined);
  for (const deadline = Date.now() + timeoutMs; (await scans()) === 0 && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 10));
  client.abort();
  const t0 = performance.now();
  await request;
  while ((await scans()) > 0 && performance.now() - t0 < 2 * timeoutMs) await new Promise((r) => setTimeout(r, 10));
  return performance.now() - t0;
}

async function prepareDatabase(adminUrl: string): Promise<{ url: string; name: string; created: boolean }> {
  const name = args.database ?? `bench_dos_${process.pid}`;
  const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  if (!args.database) {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
  }
  await migrate(url);
  const pool = createPool(url, 4);
  try {
    const { rows } = await pool.query<{ resources: number; patients: number }>(
      `SELECT count(*)::int AS resources, count(*) FILTER (WHERE resource_type = 'Patient')::int AS patients FROM resource`,
    );
    const target = Number(args.resources);
    if (rows[0].resources < target) {
      await loadUpTo(pool, loadTemplates(`${dataDir}/synthea/bundles`), rows[0], target, 50_000, []);
      await pool.query('VACUUM (ANALYZE)');
    }
  } finally {
    await pool.end();
  }
  return { url, name, created: !args.database };
}

async function main(): Promise<void> {
  loadDefinitions();
  const postgres = await benchPostgres(machineUrl, args.embedded);
  const db = await prepareDatabase(postgres.adminUrl);
  const admin = createPool(db.url, 2);
  const facts = await readDosFacts(admin);
  const resources = (await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM resource')).rows[0].n;
  const port = await freePort();
  const server = await startServerProcess(db.url, port, { SEARCH_TIMEOUT_MS: String(timeoutMs), DB_POOL_SIZE: '10' });
  const base = `http://127.0.0.1:${port}/fhir`;
  const memory = new BackendMemory(admin, db.name);
  const readers = new Readers(base, facts, Number(args.readers));
  try {
    console.log(
      `${postgres.label}, ${resources} resources, ${os.cpus().length} CPUs, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(`SEARCH_TIMEOUT_MS=${timeoutMs}, default limits; memory bound per backend: ${boundMb} MB RssAnon`);
    memory.start();
    for (const q of DOS_CORPUS) await timed(base, q.build(facts)); // warm-up: plans, caches, connections
    readers.start();
    await new Promise((r) => setTimeout(r, Number(args['baseline-seconds']) * 1000));
    const alone = await readers.stop();
    readers.start();
    const results = new Map(
      DOS_CORPUS.map((q) => [q.name, { statuses: [] as number[], ms: [] as number[], peakMb: 0, growthMb: 0 }]),
    );
    const disconnects: number[] = [];
    for (let round = 0; round < Number(args.rounds); round++) {
      for (const q of DOS_CORPUS) {
        await memory.reset();
        const { status, ms } = await timed(base, q.build(facts));
        await new Promise((r) => setTimeout(r, 60)); // one more memory sample
        const r = results.get(q.name)!;
        const { peakMb, growthMb } = memory.window();
        r.statuses.push(status);
        r.ms.push(ms);
        r.peakMb = Math.max(r.peakMb, peakMb);
        r.growthMb = Math.max(r.growthMb, growthMb);
      }
      disconnects.push(await disconnectProbe(base, admin, db.name));
    }
    const during = await readers.stop();
    readers.start();
    await new Promise((r) => setTimeout(r, Number(args['baseline-seconds']) * 1000));
    const after = await readers.stop();
    memory.stop();
    const table = DOS_CORPUS.map((q) => {
      const r = results.get(q.name)!;
      const sorted = [...r.ms].sort((a, b) => a - b);
      const statuses = [...new Set(r.statuses)]
        .map((s) => `${s}×${r.statuses.filter((x) => x === s).length}`)
        .join(' ');
      const inTime =
        q.expect === 'refused'
          ? r.statuses.every((s) => s === 400) && sorted[sorted.length - 1] <= 1000
          : r.statuses.every((s) => s === 200 || s === 503) && sorted[sorted.length - 1] <= timeoutMs + 1000;
      const inMemory = !(r.peakMb > boundMb);
      return {
        query: q.name,
        expect: q.expect,
        statuses,
        'p50 ms': Math.round(percentile(sorted, 0.5)),
        'max ms': Math.round(sorted[sorted.length - 1]),
        'backend MB': Number.isNaN(r.peakMb) ? 'n/a' : r.peakMb.toFixed(0),
        'grew MB': Number.isNaN(r.growthMb) ? 'n/a' : r.growthMb.toFixed(0),
        verdict: inTime && inMemory ? 'met' : 'MISSED',
      };
    });
    console.table(table);
    const fmt = (r: typeof alone) =>
      `${r.perSecond.toFixed(0)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.failures} failed`;
    console.log(`normal reads (${args.readers} clients) alone, before: ${fmt(alone)}`);
    console.log(`normal reads during the corpus:          ${fmt(during)}`);
    console.log(`normal reads alone, after:               ${fmt(after)}`);
    console.log(
      `disconnected full-text scan ran on for:  ${disconnects.map((ms) => `${ms.toFixed(0)} ms`).join(', ')} after the client left`,
    );
    console.log(`largest backend RssAnon over the run:    ${memory.overallMb().toFixed(0)} MB (bound ${boundMb} MB)`);
    console.log(
      `verdict: ${table.every((t) => t.verdict === 'met') && during.failures === 0 ? 'met' : 'MISSED'} (every row met, no read failed meanwhile); load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    memory.stop();
    if (server.child.exitCode === null) {
      const exited = new Promise((r) => server.child.once('exit', r));
      server.child.kill('SIGTERM');
      await exited;
    }
    await admin.end();
    if (db.created && !args.keep) {
      const c = new pg.Client({ connectionString: postgres.adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
      await c.end();
    } else console.error(`kept database ${db.name}`);
    await postgres.stop();
  }
}

await main();
