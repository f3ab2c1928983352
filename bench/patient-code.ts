/**
 * `Observation?patient=…&code=…` under load (issue 15):
 *
 *   npx tsx bench/patient-code.ts --database <kept database> [--duration 8] [--connections 16] [--pairs 500]
 *
 * On a database kept by `bench/search.ts --keep` (Synthea cloned, codes repeated thousands of times): draws `--pairs`
 * (patient, code of one of its Observations) pairs, then
 * 1. HTTP: Tributary as its own process (`npm start`'s command, AUTH=off) on that database, autocannon with
 *    `--connections` over the pairs for `--duration` s: req/s, p50, p99 (target p99 ≤ 15 ms at 16 connections);
 * 2. SQL: the statement the search engine runs for each pair (patient first by construction, server/search/anchor.ts)
 *    against the same statement turned code-first (the code's rids first, the patient checked per row), each from
 *    `--connections` pg connections for `--duration` s: statements/s, p50, p99 and the ratio (target ≥ 3×).
 * Prints one table with the machine's load.
 */
import autocannon from 'autocannon';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { Repository } from '../server/core/repository.ts';
import { createPool } from '../server/db/pool.ts';
import { executeSearch } from '../server/search/engine.ts';
import { parseSearch } from '../server/search/parse.ts';
import { PostgresRepository } from '../server/store/repository.ts';
import { freePort } from '../test/global-setup.ts';
import { startServerProcess } from '../test/server-process.ts';
import { stopProcess } from './startup.ts';

const { values: args } = parseArgs({
  options: {
    database: { type: 'string' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
    pairs: { type: 'string', default: '500' },
  },
});
if (!args.database) throw new Error('--database <name of a database kept by bench/search.ts --keep> is required');
const seconds = Number(args.duration);
const connections = Number(args.connections);
const admin = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const url = Object.assign(new URL(admin), { pathname: `/${args.database}` }).toString();

/** Latency figures of a run: per-second rate, p50 and p99 in ms. */
interface Figures {
  rate: number;
  p50: number;
  p99: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/** Runs each statement in turn from `connections` connections for `seconds` s. */
async function sqlLane(pool: pg.Pool, statements: [string, unknown[]][]): Promise<Figures> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        const [text, values] = statements[next++ % statements.length];
        const start = performance.now();
        await pool.query(text, values);
        latencies.push(performance.now() - start);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rate: latencies.length / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

/** The engine's statement for a search (captured, not run). */
async function engineStatement(repo: Repository, query: string): Promise<[string, unknown[]]> {
  let captured: [string, unknown[]] | undefined;
  const capturing = Object.create(repo) as Repository;
  capturing.query = (async (text: string, values: unknown[]) => {
    captured ??= [text, values];
    return { rows: [], rowCount: 0 };
  }) as unknown as Repository['query'];
  const params: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(query)) (params[k] ??= []).push(v);
  await executeSearch(
    { repo: capturing, baseUrl: 'http://127.0.0.1/fhir' },
    parseSearch(['Observation'], params, 'strict'),
  );
  if (!captured) throw new Error('the search ran no statement');
  return captured;
}

/**
 * The same search, code first: the code's rids are the InitPlan and the patient a per-row probe (what a plan starting
 * from the code does), written here for the comparison.
 */
function codeFirst(patient: string, code: string): [string, unknown[]] {
  return [
    `SELECT r.rid, r.resource_type, r.id, r.content FROM resource r
     WHERE r.rid = ANY (ARRAY (SELECT t.rid FROM sp_token t WHERE t.resource_type = 'Observation' AND t.code = 'code' AND t.value = $2))
       AND r.resource_type = 'Observation' AND NOT r.deleted
       AND (SELECT EXISTS (SELECT 1 FROM sp_reference p WHERE p.rid = r.rid AND p.resource_type = 'Observation'
            AND p.code = 'patient' AND p.target_type = 'Patient' AND p.target_id = $1))
     ORDER BY r.rid LIMIT 21`,
    [patient, code],
  ];
}

async function main(): Promise<void> {
  const load = loadavg();
  const pool = createPool(url, connections);
  const { rows: counts } = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Observation' AND NOT deleted",
  );
  const { rows: pairs } = await pool.query<{ patient: string; code: string }>(
    `SELECT DISTINCT ON (ref.target_id) ref.target_id AS patient, t.value AS code
     FROM sp_reference ref JOIN sp_token t ON t.rid = ref.rid AND t.resource_type = 'Observation' AND t.code = 'code'
     WHERE ref.resource_type = 'Observation' AND ref.code = 'patient' AND ref.target_type = 'Patient'
     ORDER BY ref.target_id, hashtext(ref.rid::text || t.value) LIMIT $1`,
    [Number(args.pairs)],
  );
  const { rows: repeats } = await pool.query<{ n: number }>(
    `SELECT avg(n)::int AS n FROM (SELECT count(*) AS n FROM sp_token WHERE resource_type = 'Observation' AND code = 'code'
       AND value = ANY($1) GROUP BY value) c`,
    [pairs.map((p) => p.code)],
  );
  const repo = new PostgresRepository(pool, () => {});
  const patientFirst: [string, unknown[]][] = [];
  for (const p of pairs) patientFirst.push(await engineStatement(repo, `patient=${p.patient}&code=${p.code}`));
  const codeFirstStatements = pairs.map((p) => codeFirst(p.patient, p.code));

  const port = await freePort();
  const server = await startServerProcess(url, port, { AUTH: 'off', DB_POOL_SIZE: '10' });
  let http: Figures;
  try {
    let n = 0;
    const request = () => {
      const p = pairs[n++ % pairs.length];
      return { path: `/fhir/Observation?patient=${p.patient}&code=${encodeURIComponent(p.code)}` };
    };
    const run = (duration: number) =>
      autocannon({
        url: `http://127.0.0.1:${port}`,
        connections,
        duration,
        requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, ...request() }) }],
      });
    await run(2);
    const r = await run(seconds);
    http = { rate: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99 };
    if (r.non2xx || r.errors) console.error(`${r.non2xx} non-2xx answers, ${r.errors} errors`);
  } finally {
    await stopProcess(server.child);
  }
  await sqlLane(pool, patientFirst.slice(0, 50));
  const ours = await sqlLane(pool, patientFirst);
  const theirs = await sqlLane(pool, codeFirstStatements);
  await pool.end();

  const end = loadavg();
  const f = (x: Figures, unit: string) =>
    `${Math.round(x.rate).toLocaleString('en-US')} ${unit}/s, p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms`;
  console.log(
    `Observation?patient&code on ${args.database}: ${counts[0].n.toLocaleString('en-US')} Observations, ${pairs.length} (patient, code) pairs, each code on ~${repeats[0].n.toLocaleString('en-US')} Observations; ${connections} connections, ${seconds} s per lane; ${cpus().length} CPUs, load ${load.map((l) => l.toFixed(2)).join(' ')} at start, ${end.map((l) => l.toFixed(2)).join(' ')} at end`,
  );
  console.log('| lane | figures | ratio | target | |');
  console.log('|---|---|---|---|---|');
  console.log(`| HTTP GET (AUTH=off) | ${f(http, 'req')} | | p99 ≤ 15 ms | ${http.p99 <= 15 ? 'met' : 'MISSED'} |`);
  console.log(`| SQL, the engine's plan (patient first) | ${f(ours, 'statements')} | | | |`);
  const ratio = ours.rate / theirs.rate;
  console.log(
    `| SQL, code first | ${f(theirs, 'statements')} | ${ratio.toFixed(1)}× | patient first ≥ 3× | ${ratio >= 3 ? 'met' : 'MISSED'} |`,
  );
}

await main();
