import os from 'node:os';
import type pg from 'pg';
import { createFhirRouter } from '../server/rest/routes.ts';
import type { FhirContext } from '../server/core/types.ts';
import { PostgresRepository } from '../server/store/repository.ts';
import { QUERIES, readFacts, seededRandom, type BenchQuery, type Facts } from './search-queries.ts';

/** The measurements of one query at one size. */
export interface Measured {
  p50: number;
  p99: number;
  /** Mean number of matches (Bundle.total with `_total=accurate`, over five runs). */
  matches: number;
}

/** One database to measure: its size, and a way to run a search on it that records the SQL it sends. */
export interface Target {
  size: number;
  pool: pg.Pool;
  facts: Facts;
  run: (query: string) => Promise<{ ms: number; total?: number }>;
  /** The statements of the last run. */
  statements: { text: string; values: unknown[] }[];
}

/**
 * Makes a database ready to measure: `VACUUM (ANALYZE)` (or only ANALYZE), the facts the queries draw from, and an
 * in-process FHIR router over it.
 */
export async function prepareTarget(pool: pg.Pool, size: number, vacuum: boolean): Promise<Target> {
  const started = Date.now();
  await pool.query(vacuum ? 'VACUUM (ANALYZE)' : 'ANALYZE');
  process.stderr.write(
    `${size}: ${vacuum ? 'VACUUM (ANALYZE)' : 'ANALYZE'} took ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
  const statements: Target['statements'] = [];
  // Not a pg.Pool but a plain queryable over it, so that searches send every statement through it (a search on a
  // pool takes a connection of its own: server/search/session.ts) and their statements are recorded.
  const recording = {
    query: (text: string, values: unknown[]) => {
      statements.push({ text, values });
      return pool.query(text, values);
    },
  } as unknown as pg.Pool;
  const router = createFhirRouter();
  const ctx: FhirContext = {
    repo: new PostgresRepository(recording, () => {}),
    baseUrl: 'http://localhost/fhir',
    requestId: 'bench',
    access: { kind: 'system' },
  };
  const run = async (query: string) => {
    const [path, qs] = query.split('?');
    const params: Record<string, string[]> = {};
    for (const [k, v] of new URLSearchParams(qs)) (params[k] ??= []).push(v);
    statements.length = 0;
    const t0 = process.hrtime.bigint();
    const res = await router.handle(ctx, { method: 'GET', path, query: params, headers: {} });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${String(res.content).slice(0, 300)}`);
    return { ms, total: (JSON.parse(res.content as string) as { total?: number }).total };
  };
  return { size, pool, facts: await readFacts(pool), run, statements };
}

/**
 * Runs every query `iterations` times on each target, alternating between the targets run by run, so that all sizes
 * share whatever else the machine is doing meanwhile (growth ratios stay fair on a shared machine). The first three
 * runs per target are warm-up. With `explain`, prints EXPLAIN (ANALYZE, BUFFERS) of each query's last statements.
 */
export async function measureInterleaved(
  targets: Target[],
  iterations: number,
  seed: number,
  explain: boolean,
): Promise<Map<number, Map<string, Measured>>> {
  const results = new Map(targets.map((t) => [t.size, new Map<string, Measured>()]));
  console.error(
    `measuring, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const [i, q] of QUERIES.entries()) {
    const picks = targets.map((_, k) => seededRandom(seed * 1000 + i * 10 + k));
    const times: number[][] = targets.map(() => []);
    for (let n = 0; n < runsOf(q, iterations) + 3; n++) {
      for (const [k, t] of targets.entries()) {
        const { ms } = await t.run(await q.build(t.facts, picks[k], t.pool));
        if (n >= 3) times[k].push(ms);
      }
    }
    for (const [k, t] of targets.entries()) {
      const last = t.statements.filter((s) => !s.text.startsWith('EXPLAIN'));
      const sorted = times[k].sort((a, b) => a - b);
      const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];
      results
        .get(t.size)
        ?.set(q.name, { p50: sorted[Math.floor(sorted.length / 2)], p99, matches: await matches(q, t, picks[k]) });
      if (explain) await printPlans(t.pool, `${q.name} @ ${t.size}`, last);
    }
  }
  console.error(
    `measured, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  return results;
}

/** Runs per query: the `_total` count runs a tenth as often (at least 10). */
export function runsOf(q: BenchQuery, iterations: number): number {
  return q.kind === 'count' ? Math.max(10, Math.round(iterations / 10)) : iterations;
}

/** Mean Bundle.total of five fresh instances of the query with `_total=accurate` (untimed). */
async function matches(q: BenchQuery, t: Target, pick: () => number): Promise<number> {
  let sum = 0;
  for (let n = 0; n < 5; n++) {
    const query = await q.build(t.facts, pick, t.pool);
    sum += (await t.run(query.includes('_total=') ? query : `${query}&_total=accurate`)).total ?? 0;
  }
  return sum / 5;
}

async function printPlans(pool: pg.Pool, title: string, statements: Target['statements']): Promise<void> {
  for (const s of statements) {
    const plan = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${s.text}`, s.values);
    console.log(`\n-- ${title}\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
  }
}
