/**
 * Where the time of transaction ingest goes. One command, prints two tables:
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/ingest-profile.ts [bundles=20] [concurrency=2]
 *
 * 1. End to end: Synthea patient bundles POSTed as transactions to an in-process server (AUTH=off, scratch database, dropped
 *    afterwards), one at a time and `concurrency` at a time: resources/s and this process's CPU per resource.
 * 2. The same resources through each stage of a write on its own, single-threaded: JSON parse, validation,
 *    index extraction, serialisation, and the database write of the prepared rows (one multi-row batch per bundle).
 *
 * Bundles come from `$FHIR_TESTDATA/synthea/bundles` (default ../shared/data), else from test/fixtures/synthea.
 * DATABASE_URL is an admin URL; the script creates and drops its own databases there.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { startTributary } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { migrate } from '../server/db/migrate.ts';
import { loadDefinitions } from '../server/fhir/definitions.ts';
import { parseJsonBody } from '../server/http/json.ts';
import { extractIndexRows } from '../server/store/indexer.ts';
import { writeVersions, type PendingWrite } from '../server/store/writes.ts';
import { checkWrite } from '../server/validation/validator.ts';

const bundleCount = Number(process.argv[2] ?? 20);
const concurrency = Number(process.argv[3] ?? 2);
const admin = process.env.DATABASE_URL;
if (!admin) {
  console.error('Set DATABASE_URL to an admin URL of a Postgres (e.g. postgres://postgres@127.0.0.1:5432/postgres)');
  process.exit(2);
}

function bundleTexts(): string[] {
  const shared = resolve(process.env.FHIR_TESTDATA ?? '../shared/data', 'synthea', 'bundles');
  const dir = existsSync(shared) ? shared : resolve('test/fixtures/synthea');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json.gz') && !/Information/.test(f))
    .sort()
    .slice(0, bundleCount);
  return files.map((f) => gunzipSync(readFileSync(join(dir, f))).toString('utf8'));
}

async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `ingest_profile_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  const url = new URL(admin as string);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
  }
}

/** Posts every bundle, `parallel` at a time; returns wall ms and this process's CPU ms. */
async function endToEnd(texts: string[], parallel: number): Promise<{ wallMs: number; cpuMs: number }> {
  return withDatabase(async (databaseUrl) => {
    const server = await startTributary({
      ...loadConfig({ AUTH: 'off' }),
      port: 0,
      host: '127.0.0.1',
      logLevel: 'warn',
      databaseUrl,
    });
    try {
      const cpu = process.cpuUsage();
      const started = performance.now();
      let next = 0;
      const worker = async () => {
        while (next < texts.length) {
          const body = texts[next++];
          const res = await fetch(server.fhirBase, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
          });
          if (res.status !== 200)
            throw new Error(`transaction failed: ${res.status} ${(await res.text()).slice(0, 300)}`);
          await res.arrayBuffer();
        }
      };
      await Promise.all(Array.from({ length: parallel }, worker));
      const used = process.cpuUsage(cpu);
      return { wallMs: performance.now() - started, cpuMs: (used.user + used.system) / 1000 };
    } finally {
      await server.close();
    }
  });
}

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const result = fn();
  return [result, performance.now() - t];
}

async function stages(texts: string[]): Promise<[string, number][]> {
  loadDefinitions();
  const [bundles, parseMs] = time(() => texts.map((t) => parseJsonBody(t) as Bundle));
  const resources = bundles.map((b) =>
    (b.entry ?? []).map((e, i) => ({
      ...(e.resource as Resource),
      id: `r${i}-${Math.random().toString(36).slice(2)}`,
      meta: { versionId: '1', lastUpdated: new Date().toISOString() },
    })),
  );
  const [, validateMs] = time(() => resources.flat().forEach((r) => checkWrite(r)));
  const [indexes, indexMs] = time(() => resources.map((rs) => rs.map((r) => extractIndexRows(r))));
  const [contents, serializeMs] = time(() => resources.map((rs) => rs.map((r) => JSON.stringify(r))));
  const writeMs = await withDatabase(async (url) => {
    await migrate(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const started = performance.now();
      for (let b = 0; b < resources.length; b++) {
        const writes: PendingWrite[] = resources[b].map((r, i) => ({
          resourceType: r.resourceType,
          id: r.id as string,
          versionId: 1,
          lastUpdated: r.meta?.lastUpdated as string,
          deleted: false,
          method: 'create',
          content: contents[b][i],
          index: indexes[b][i],
          replaces: false,
        }));
        await client.query('BEGIN');
        await writeVersions(client, writes);
        await client.query('COMMIT');
      }
      return performance.now() - started;
    } finally {
      await client.end();
    }
  });
  return [
    ['JSON parse (+ depth check)', parseMs],
    ['validation (checkWrite)', validateMs],
    ['index extraction', indexMs],
    ['serialisation', serializeMs],
    ['database write (driver + Postgres)', writeMs],
  ];
}

async function main(): Promise<void> {
  const texts = bundleTexts();
  const resources = texts.reduce((n, t) => n + (JSON.parse(t) as Bundle).entry!.length, 0);
  console.log(`${texts.length} Synthea bundles, ${resources} resources\n`);
  await endToEnd(texts.slice(0, 2), 1); // warm-up: definitions, JIT
  const rows: string[][] = [];
  for (const parallel of [1, concurrency]) {
    const { wallMs, cpuMs } = await endToEnd(texts, parallel);
    rows.push([
      `${parallel} at a time`,
      String(Math.round((resources / wallMs) * 1000)),
      ((cpuMs * 1000) / resources).toFixed(0),
    ]);
  }
  console.log('| end to end | resources/s | node CPU µs/resource |\n|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  const parts = await stages(texts);
  const total = parts.reduce((s, [, ms]) => s + ms, 0);
  console.log('\n| stage (single-threaded) | ms | µs/resource | share |\n|---|---|---|---|');
  for (const [name, ms] of parts) {
    console.log(
      `| ${name} | ${ms.toFixed(0)} | ${((ms * 1000) / resources).toFixed(0)} | ${((ms / total) * 100).toFixed(0)}% |`,
    );
  }
}

await main();
