/**
 * Search benchmark (issue 3). One command, prints tables:
 *
 *   npx tsx bench/search.ts [--sizes 100000,1000000] [--iterations 200] [--verbose] [--keep]
 *
 * Loads Synthea-shaped patients (cloned from $FHIR_TESTDATA/synthea/bundles, default ../shared/data) into a fresh
 * database on $DATABASE_URL (default the local Postgres) through the store's own write path (index rows included),
 * up to each size in turn; at each size runs the queries in-process through the FHIR router (parse, SQL,
 * Bundle) with different patients each time, and prints p50/p99. Then the latency growth between the first and the
 * last size, the ingest rate per loaded chunk (does indexing slow down as the database grows?), and the cost of
 * index extraction per resource. `--verbose` prints EXPLAIN (ANALYZE) of every query once per size.
 */
import type { Resource } from '@medplum/fhirtypes';
import pg from 'pg';
import { parseArgs } from 'node:util';
import { migrate } from '../server/db/migrate.ts';
import { createPool } from '../server/db/pool.ts';
import { loadDefinitions } from '../server/fhir/definitions.ts';
import { createFhirRouter } from '../server/rest/routes.ts';
import type { FhirContext } from '../server/rest/types.ts';
import { extractIndexRows } from '../server/store/indexer.ts';
import { Repository } from '../server/store/repository.ts';
import { writeVersions, type PendingWrite } from '../server/store/writes.ts';
import { cloneTemplate, loadTemplates } from './synthea-clone.ts';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    iterations: { type: 'string', default: '200' },
    verbose: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const sizes = (args.sizes as string).split(',').map(Number);
const iterations = Number(args.iterations);
const dataDir = process.env.FHIR_TESTDATA ?? '../shared/data';
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** What the queries need to know about a generated patient. */
interface PatientFacts {
  id: string;
  identifier: string;
  family: string;
  birthDate: string;
  code?: string;
}

const facts: PatientFacts[] = [];
const codeCounts = new Map<string, number>();
let loaded = 0;
const ingest: { upTo: number; perSecond: number }[] = [];

async function load(pool: pg.Pool, templates: ReturnType<typeof loadTemplates>, target: number): Promise<void> {
  let t = 0;
  let chunkStart = process.hrtime.bigint();
  let chunkCount = 0;
  const chunk = Math.max(10_000, Math.round(target / 10));
  while (loaded < target) {
    const resources = cloneTemplate(templates[t++ % templates.length]);
    const now = new Date().toISOString();
    const writes: PendingWrite[] = resources.map((r) => {
      const stored = { ...r, meta: { versionId: '1', lastUpdated: now } } as Resource;
      return {
        resourceType: r.resourceType, id: r.id as string, versionId: 1, lastUpdated: now, deleted: false,
        method: 'create', content: JSON.stringify(stored), index: extractIndexRows(stored), replaces: false,
      };
    });
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await writeVersions(client, writes);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    remember(resources);
    loaded += resources.length;
    chunkCount += resources.length;
    if (chunkCount >= chunk || loaded >= target) {
      const seconds = Number(process.hrtime.bigint() - chunkStart) / 1e9;
      ingest.push({ upTo: loaded, perSecond: chunkCount / seconds });
      process.stderr.write(`loaded ${loaded} resources (${Math.round(chunkCount / seconds)}/s)\n`);
      chunkStart = process.hrtime.bigint();
      chunkCount = 0;
    }
  }
}

function remember(resources: Resource[]): void {
  const patient = resources.find((r) => r.resourceType === 'Patient') as Resource & {
    identifier?: { system?: string; value?: string }[]; name?: { family?: string }[]; birthDate?: string;
  };
  if (!patient) return;
  const ident = patient.identifier?.find((i) => i.system && i.value);
  const obs = resources.filter((r) => r.resourceType === 'Observation') as (Resource & { code?: { coding?: { code?: string }[] } })[];
  for (const o of obs) {
    const c = o.code?.coding?.[0]?.code;
    if (c) codeCounts.set(c, (codeCounts.get(c) ?? 0) + 1);
  }
  facts.push({
    id: patient.id as string,
    identifier: `${ident?.system}|${ident?.value}`,
    family: patient.name?.[0]?.family ?? 'Smith',
    birthDate: patient.birthDate ?? '1970-01-01',
    code: obs[0]?.code?.coding?.[0]?.code,
  });
}

/** The queries; `{…}` fields come from a random generated patient, `{common}` is the most frequent code. */
const QUERIES: [name: string, query: (p: PatientFacts, common: string) => string][] = [
  ['Patient?name=', (p) => `Patient?name=${encodeURIComponent(p.family)}`],
  ['Patient?identifier=', (p) => `Patient?identifier=${encodeURIComponent(p.identifier)}`],
  ['Patient?birthdate=ge', (p) => `Patient?birthdate=ge${p.birthDate}`],
  ['Observation?patient&code&date=ge', (p) => `Observation?patient=Patient/${p.id}&code=${p.code}&date=ge2000-01-01`],
  ['Observation?subject&_sort=-date&_count=10', (p) => `Observation?subject=Patient/${p.id}&_sort=-date&_count=10`],
  ['Encounter?patient&_include=practitioner', (p) => `Encounter?patient=Patient/${p.id}&_include=Encounter:practitioner`],
  ['MedicationRequest?patient.identifier=', (p) => `MedicationRequest?patient.identifier=${encodeURIComponent(p.identifier)}`],
  ['Patient?_has:Observation:patient:code=', (_p, common) => `Patient?_has:Observation:patient:code=${common}`],
  ['Observation?code&_total=accurate', (_p, common) => `Observation?code=${common}&_total=accurate`],
];

interface Row {
  size: number;
  name: string;
  p50: number;
  p99: number;
  hits: number;
}

async function measure(pool: pg.Pool, size: number): Promise<Row[]> {
  await pool.query('ANALYZE');
  const statements: { text: string; values: unknown[] }[] = [];
  const recording = Object.create(pool) as pg.Pool;
  recording.query = ((text: string, values: unknown[]) => {
    statements.push({ text, values });
    return pool.query(text, values);
  }) as pg.Pool['query'];
  const repo = new Repository(recording, () => {});
  const router = createFhirRouter();
  const ctx: FhirContext = { repo, baseUrl: 'http://localhost/fhir', requestId: 'bench', access: { kind: 'system' } };
  const common = [...codeCounts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const rows: Row[] = [];
  for (const [name, build] of QUERIES) {
    const times: number[] = [];
    let hits = 0;
    const runs = name.includes('_total') ? Math.max(5, Math.round(iterations / 20)) : iterations;
    for (let i = 0; i < runs + 3; i++) {
      const p = facts[Math.floor(Math.random() * facts.length)];
      const [path, qs] = build(p, common).split('?');
      const query: Record<string, string[]> = {};
      for (const [k, v] of new URLSearchParams(qs)) (query[k] ??= []).push(v);
      statements.length = 0;
      const started = process.hrtime.bigint();
      const res = await router.handle(ctx, { method: 'GET', path, query, headers: {} });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (i < 3) continue; // warm-up
      times.push(ms);
      const bundle = JSON.parse(res.content as string) as { total?: number; entry?: unknown[] };
      hits += bundle.total ?? bundle.entry?.length ?? 0;
    }
    times.sort((a, b) => a - b);
    rows.push({ size, name, p50: times[Math.floor(times.length * 0.5)], p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))], hits: Math.round(hits / runs) });
    if (args.verbose) {
      for (const s of statements) {
        const plan = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${s.text}`, s.values);
        console.log(`\n-- ${name} @ ${size}\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
      }
    }
  }
  return rows;
}

function indexCost(templates: ReturnType<typeof loadTemplates>): number {
  const sample = templates.slice(0, 20).flatMap((t) => cloneTemplate(t));
  for (const r of sample.slice(0, 1000)) extractIndexRows(r);
  const started = process.hrtime.bigint();
  for (const r of sample) extractIndexRows(r);
  return Number(process.hrtime.bigint() - started) / 1000 / sample.length;
}

async function main(): Promise<void> {
  loadDefinitions();
  const templates = loadTemplates(`${dataDir}/synthea/bundles`);
  const name = `bench_search_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const pool = createPool(url.toString(), 4);
  const results: Row[] = [];
  try {
    for (const size of sizes) {
      await load(pool, templates, size);
      results.push(...(await measure(pool, loaded)));
    }
  } finally {
    await pool.end();
    if (!args.keep) await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
  const first = results.filter((r) => r.size === results[0].size);
  const last = results.filter((r) => r.size === results[results.length - 1].size);
  console.log('\nquery latency (ms, in-process through the FHIR router)');
  console.table(results.map((r) => ({ resources: r.size, query: r.name, p50: r.p50.toFixed(2), p99: r.p99.toFixed(2), 'avg hits/total': r.hits })));
  if (sizes.length > 1) {
    console.log(`\nlatency growth ${first[0].size} → ${last[0].size} resources (p50 ratio; target ≤ 1.5)`);
    console.table(first.map((r, i) => ({ query: r.name, ratio: (last[i].p50 / r.p50).toFixed(2) })));
  }
  console.log('\ningest through the store write path (resources/s per chunk; target: last ≥ 0.8 × first)');
  console.table(ingest.map((c) => ({ 'loaded up to': c.upTo, 'resources/s': Math.round(c.perSecond) })));
  console.log(`last/first ingest ratio: ${(ingest[ingest.length - 1].perSecond / ingest[0].perSecond).toFixed(2)}`);
  console.log(`\nextractIndexRows: ${indexCost(templates).toFixed(1)} µs per Synthea resource`);
}

await main();
