/**
 * Search benchmark (issue 3). One command, one run, prints one table:
 *
 *   npx tsx bench/search.ts [--sizes 100000,1000000] [--iterations 200] [--verbose] [--keep] [--database name]
 *                           [--no-vacuum] [--chunk 50000] [--seed 1]
 *
 * Loads Synthea-shaped patients (cloned from $FHIR_TESTDATA/synthea/bundles, default ../shared/data) into a fresh
 * database on $DATABASE_URL (default the local Postgres) through the store's own write path (index rows included),
 * up to each size in turn; at each size runs the queries in-process through the FHIR router (parse, SQL,
 * Bundle) with values drawn from random patients, and prints per size the matches, p50 and p99, then the p50 growth
 * from the first to the last size and each target's verdict; then the ingest rate per chunk, early vs late.
 * `--verbose` prints EXPLAIN (ANALYZE, BUFFERS) of every statement of each query's last run, per size.
 *
 * Before measuring, `VACUUM (ANALYZE)`: what autovacuum does on a real server after a bulk load (PG ≥ 13 vacuums
 * insert-only tables too), which sets the visibility map index-only scans need and refreshes planner statistics.
 * CI's Postgres runs with autovacuum off, so the benchmark does it itself; `--no-vacuum` only ANALYZEs.
 * `--keep` keeps the database; `--database name` measures (and grows, up to `--sizes`) a kept one instead.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate } from '../server/db/migrate.ts';
import { createPool } from '../server/db/pool.ts';
import { loadDefinitions } from '../server/fhir/definitions.ts';
import { createFhirRouter } from '../server/rest/routes.ts';
import type { FhirContext } from '../server/rest/types.ts';
import { Repository } from '../server/store/repository.ts';
import { ingestTrend, loadUpTo, type IngestChunk } from './search-load.ts';
import { QUERIES, readFacts, seededRandom, type BenchQuery } from './search-queries.ts';
import { loadTemplates } from './synthea-clone.ts';

const { values: args } = parseArgs({
  allowNegative: true,
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    iterations: { type: 'string', default: '200' },
    verbose: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    database: { type: 'string' },
    vacuum: { type: 'boolean', default: true },
    chunk: { type: 'string', default: '50000' },
    seed: { type: 'string', default: '1' },
  },
});
const sizes = args.sizes.split(',').map(Number);
const iterations = Number(args.iterations);
const dataDir = process.env.FHIR_TESTDATA ?? '../shared/data';
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The measurements of one query at one size. */
interface Measured {
  p50: number;
  p99: number;
  /** Mean number of matches (Bundle.total with `_total=accurate`, over a few runs). */
  matches: number;
}

async function measure(pool: pg.Pool, size: number): Promise<Map<string, Measured>> {
  const started = Date.now();
  await pool.query(args.vacuum ? 'VACUUM (ANALYZE)' : 'ANALYZE');
  process.stderr.write(`${args.vacuum ? 'VACUUM (ANALYZE)' : 'ANALYZE'} took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  const facts = await readFacts(pool);
  const statements: { text: string; values: unknown[] }[] = [];
  const recording = Object.create(pool) as pg.Pool;
  recording.query = ((text: string, values: unknown[]) => {
    statements.push({ text, values });
    return pool.query(text, values);
  }) as pg.Pool['query'];
  const router = createFhirRouter();
  const ctx: FhirContext = { repo: new Repository(recording, () => {}), baseUrl: 'http://localhost/fhir', requestId: 'bench', access: { kind: 'system' } };
  const run = async (query: string) => {
    const [path, qs] = query.split('?');
    const params: Record<string, string[]> = {};
    for (const [k, v] of new URLSearchParams(qs)) (params[k] ??= []).push(v);
    statements.length = 0;
    const t0 = process.hrtime.bigint();
    const res = await router.handle(ctx, { method: 'GET', path, query: params, headers: {} });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${String(res.content).slice(0, 300)}`);
    return { ms, bundle: JSON.parse(res.content as string) as { total?: number } };
  };
  const results = new Map<string, Measured>();
  console.error(`measuring at ${size} resources, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const [i, q] of QUERIES.entries()) {
    const pick = seededRandom(Number(args.seed) * 1000 + i);
    const runs = q.kind === 'count' ? Math.max(10, Math.round(iterations / 10)) : iterations;
    const times: number[] = [];
    for (let n = 0; n < runs + 3; n++) {
      const { ms } = await run(await q.build(facts, pick, pool));
      if (n >= 3) times.push(ms); // the first three are warm-up
    }
    const last = [...statements];
    times.sort((a, b) => a - b);
    results.set(q.name, { p50: times[Math.floor(times.length / 2)], p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))], matches: await matches(q, facts, pick, pool, run) });
    if (args.verbose) {
      for (const s of last.filter((x) => !x.text.startsWith('EXPLAIN'))) {
        const plan = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${s.text}`, s.values);
        console.log(`\n-- ${q.name} @ ${size}\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
      }
    }
  }
  console.error(`done at ${size}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  return results;
}

/** Mean Bundle.total of five fresh instances of the query with `_total=accurate` (untimed). */
async function matches(q: BenchQuery, facts: Awaited<ReturnType<typeof readFacts>>, pick: () => number, pool: pg.Pool, run: (query: string) => Promise<{ bundle: { total?: number } }>) {
  let sum = 0;
  for (let n = 0; n < 5; n++) {
    const query = await q.build(facts, pick, pool);
    sum += (await run(query.includes('_total=') ? query : `${query}&_total=accurate`)).bundle.total ?? 0;
  }
  return sum / 5;
}

function verdict(q: BenchQuery, last: Measured, growth: number | undefined): string {
  if (q.kind === 'count') return last.p50 <= 1000 ? 'met (≤1 s)' : 'MISSED (>1 s)';
  const missed = [last.p50 > 5 && 'p50>5', last.p99 > 30 && 'p99>30', growth !== undefined && growth > 1.5 && 'growth>1.5'].filter(Boolean);
  return missed.length ? `MISSED (${missed.join(', ')})` : 'met';
}

function report(bySize: Map<number, Map<string, Measured>>, chunks: IngestChunk[]): void {
  const measured = [...bySize.keys()];
  const rows = QUERIES.map((q) => {
    const row: Record<string, string> = { query: q.name };
    for (const size of measured) {
      const m = bySize.get(size)?.get(q.name) as Measured;
      row[`matches@${size}`] = m.matches.toFixed(m.matches < 10 ? 1 : 0);
      row[`p50@${size}`] = m.p50.toFixed(2);
      row[`p99@${size}`] = m.p99.toFixed(2);
    }
    const first = bySize.get(measured[0])?.get(q.name) as Measured;
    const last = bySize.get(measured[measured.length - 1])?.get(q.name) as Measured;
    const growth = measured.length > 1 ? last.p50 / first.p50 : undefined;
    if (growth !== undefined) row['p50 growth'] = growth.toFixed(2);
    row.verdict = verdict(q, last, q.kind === 'count' ? undefined : growth);
    return row;
  });
  console.log(`\nsearch latency in ms, in-process through the FHIR router (${iterations} runs per query, _total: ${Math.max(10, Math.round(iterations / 10))});`);
  console.log('targets at the last size: p50 ≤ 5, p99 ≤ 30, p50 growth ≤ 1.5; _total=accurate ≤ 1000');
  console.table(rows);
  if (chunks.length === 0) return console.log('\nno ingest in this run');
  const trend = ingestTrend(chunks, (c) => c.perSecond);
  console.log('\ningest through the store write path, one patient bundle per transaction, per chunk: resources/s, CPU ms per');
  console.log('resource (this process + its Postgres backends; independent of other work on the machine), 1-minute load');
  console.table(chunks.map((c) => ({
    resources: `${c.from}–${c.upTo}`, 'resources/s': Math.round(c.perSecond), 'CPU ms/resource': c.cpuMs?.toFixed(3) ?? 'n/a', load: c.load.toFixed(1),
  })));
  console.log(`resources/s: early (first quarter of chunks) ${Math.round(trend.early)}, late (last quarter) ${Math.round(trend.late)}: ` +
    `late/early ${trend.ratio.toFixed(2)} (target ≥ 0.80: ${trend.ratio >= 0.8 ? 'met' : 'MISSED'})`);
  if (chunks.every((c) => c.cpuMs !== undefined)) {
    const cpu = ingestTrend(chunks, (c) => c.cpuMs as number);
    console.log(`CPU ms/resource: early ${cpu.early.toFixed(3)}, late ${cpu.late.toFixed(3)}: late/early ${cpu.ratio.toFixed(2)} ` +
      `(the same work per resource at 1.00; ≤ 1.25 is a ≤ 20% slowdown on a machine to itself)`);
  }
}

async function main(): Promise<void> {
  loadDefinitions();
  const templates = loadTemplates(`${dataDir}/synthea/bundles`);
  const name = args.database ?? `bench_search_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  if (!args.database) await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const pool = createPool(url.toString(), 4);
  const bySize = new Map<number, Map<string, Measured>>();
  const chunks: IngestChunk[] = [];
  try {
    const { rows } = await pool.query<{ resources: number; patients: number }>(
      `SELECT count(*)::int AS resources, count(*) FILTER (WHERE resource_type = 'Patient')::int AS patients FROM resource`,
    );
    const state = rows[0];
    for (const size of sizes) {
      if (state.resources < size) await loadUpTo(pool, templates, state, size, Number(args.chunk), chunks);
      bySize.set(state.resources, await measure(pool, state.resources));
    }
  } finally {
    await pool.end();
    if (!args.keep && !args.database) await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    else console.error(`kept database ${name}`);
    await admin.end();
  }
  report(bySize, chunks);
}

await main();
