/**
 * `npx tsx bench/terminology.ts [--admin-url URL | --embedded] [--concepts 350000]`: the terminology service's speed
 * targets, measured in one run on a fresh database and printed as one table:
 * - `$expand` of a 10,000-concept ValueSet (an is-a filter over a stored system) with a text filter, and
 *   `$validate-code` of a code in it: p50/p99 over repeated calls (the service's functions, as the operations run them);
 * - a generated SNOMED-sized hierarchy (350,000 concepts, 1–3 parents each, depth ~12) loaded into the store (is-a
 *   closure computed and written), then `is-a` subsumption of random pairs: p50/p99.
 */
import { loadavg } from 'node:os';
import pg from 'pg';
import { migrate } from '../server/db/migrate.ts';
import { ancestorClosure } from '../terminology/codesystem/closure.ts';
import { subsumes } from '../terminology/codesystem/handle.ts';
import type { ValueSet } from '@medplum/fhirtypes';
import type { FlatConcept } from '../terminology/model.ts';
import { resolveCodeSystem } from '../terminology/resolve.ts';
import { storeCodeSystem } from '../terminology/store.ts';
import { compileValueSet } from '../terminology/valueset/compose.ts';
import { expandValueSet } from '../terminology/valueset/expand.ts';
import { checkInValueSet } from '../terminology/valueset/membership.ts';
import { benchPostgres } from './bench-db.ts';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const CONCEPTS = Number(option('--concepts') ?? 350_000);
const WORDS = [
  'acute',
  'chronic',
  'left',
  'right',
  'upper',
  'lower',
  'fracture',
  'infection',
  'pain',
  'lesion',
  'disorder',
  'finding',
];

/** A deterministic random number generator (mulberry32), so every run loads the same hierarchy. */
function random(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A hierarchy of `n` concepts: each concept's parents are earlier concepts, one level up (levels grow ~×2.6). */
function generate(n: number, rnd: () => number): FlatConcept[] {
  const levelStart = [0, 1];
  while (levelStart.at(-1)! < n) levelStart.push(Math.min(n, Math.ceil(levelStart.at(-1)! * 2.6) + 1));
  const concepts: FlatConcept[] = [];
  for (let level = 0; level < levelStart.length - 1; level++) {
    for (let ord = levelStart[level]; ord < levelStart[level + 1]; ord++) {
      const parents = new Set<number>();
      if (level > 0) {
        const [from, to] = [levelStart[level - 1], levelStart[level]];
        // mostly one parent; a second or third one near the first, as SNOMED CT's are (they share ancestors)
        const count = rnd() < 0.8 ? 1 : rnd() < 0.85 ? 2 : 3;
        const first = from + Math.floor(rnd() * (to - from));
        parents.add(first);
        for (let k = 1; k < count; k++) parents.add(Math.min(to - 1, first + 1 + Math.floor(rnd() * 8)));
      }
      const words = [0, 1, 2].map(() => WORDS[Math.floor(rnd() * WORDS.length)]);
      concepts.push({
        ord,
        code: String(100000 + ord),
        display: `${words.join(' ')} ${ord}`,
        inactive: false,
        abstract: false,
        parents: [...parents],
        ancestors: [],
        props: {},
      });
    }
  }
  const closure = ancestorClosure(concepts.map((c) => c.parents));
  concepts.forEach((c, i) => (c.ancestors = closure[i]));
  return concepts;
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function timed(times: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  return samples;
}

async function main(): Promise<void> {
  const pgInfo = await benchPostgres(
    option('--admin-url') ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    args.includes('--embedded'),
  );
  const name = `bench_tx_${process.pid}`;
  const admin = new pg.Client({ connectionString: pgInfo.adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(pgInfo.adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  const rows: [string, string, string][] = [];
  try {
    await migrate(url.toString());
    const rnd = random(42);
    // 1. a 10,000-concept ValueSet: is-a below a concept with ~10k descendants in a 60k system
    const small = generate(60_000, rnd);
    await storeSystem(pool, 'http://example.org/bench/small', small);
    const below = new Map<number, number>();
    for (const c of small) for (const a of c.ancestors) below.set(a, (below.get(a) ?? 0) + 1);
    const root = small.reduce((best, c) =>
      Math.abs((below.get(c.ord) ?? 0) - 10_000) < Math.abs((below.get(best.ord) ?? 0) - 10_000) ? c : best,
    );
    const vs: ValueSet = {
      resourceType: 'ValueSet',
      status: 'active',
      compose: {
        include: [
          { system: 'http://example.org/bench/small', filter: [{ property: 'concept', op: 'is-a', value: root.code }] },
        ],
      },
    };
    const size = (await expandValueSet(pool, vs, { count: 1 })).expansion?.total ?? 0;
    const expand = await timed(200, (i) => expandValueSet(pool, vs, { filter: WORDS[i % WORDS.length], count: 50 }));
    rows.push([
      `$expand, ${size}-concept ValueSet, text filter (p50 / p99)`,
      `${percentile(expand, 50).toFixed(1)} / ${percentile(expand, 99).toFixed(1)} ms`,
      '≤ 50 ms p99',
    ]);
    const members = small.filter((c) => c.ancestors.includes(root.ord));
    const validate = await timed(500, async (i) => {
      const compiled = await compileValueSet(pool, vs);
      return checkInValueSet(pool, compiled, {
        system: 'http://example.org/bench/small',
        code: members[(i * 7919) % members.length].code,
      });
    });
    rows.push([
      '$validate-code in it (p50 / p99)',
      `${percentile(validate, 50).toFixed(2)} / ${percentile(validate, 99).toFixed(2)} ms`,
      '≤ 5 ms p99',
    ]);
    // 2. the SNOMED-sized load and subsumption
    const t0 = performance.now();
    const big = generate(CONCEPTS, rnd);
    const generated = performance.now() - t0;
    const closureRows = big.reduce((n, c) => n + c.ancestors.length, 0);
    const t1 = performance.now();
    await storeSystem(pool, 'http://example.org/bench/sct', big);
    const loaded = performance.now() - t1;
    rows.push([
      `load ${CONCEPTS.toLocaleString()} concepts (${closureRows.toLocaleString()} closure entries)`,
      `${((generated + loaded) / 1000).toFixed(1)} s (closure ${(generated / 1000).toFixed(1)} s, write ${(loaded / 1000).toFixed(1)} s)`,
      '≤ 120 s',
    ]);
    const system = (await resolveCodeSystem(pool, 'http://example.org/bench/sct'))!;
    const isA = await timed(500, async (i) => {
      const b = big[(i * 104729) % big.length];
      const a = big[b.ancestors[(i * 31) % b.ancestors.length]];
      const [ca, cb] = [await system.find(pool, a.code), await system.find(pool, b.code)];
      if (!ca || !cb || !subsumes(ca, cb)) throw new Error('subsumption answered wrong');
    });
    rows.push([
      'is-a subsumption of two codes (p50 / p99)',
      `${percentile(isA, 50).toFixed(2)} / ${percentile(isA, 99).toFixed(2)} ms`,
      '≤ 5 ms p99',
    ]);
  } finally {
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    await pgInfo.stop();
  }
  console.log(
    `terminology bench — ${pgInfo.label}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log('| measure | result | target |\n|---|---|---|');
  for (const [m, r, t] of rows) console.log(`| ${m} | ${r} | ${t} |`);
}

async function storeSystem(pool: pg.Pool, url: string, concepts: FlatConcept[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await storeCodeSystem(
      client,
      { resourceType: 'CodeSystem', url, status: 'active', content: 'complete' },
      concepts,
      'bench',
    );
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

await main();
