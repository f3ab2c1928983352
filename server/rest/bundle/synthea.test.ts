import type { Bundle, Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/synthea/', import.meta.url));
const TESTDATA = process.env.FHIR_TESTDATA;

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

function readBundle(path: string): Bundle {
  const raw = readFileSync(path);
  return JSON.parse((path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')) as Bundle;
}

function bundleFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.json(\.gz)?$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** Posts a transaction and returns fullUrl → `Type/id` from the response's locations (every entry must be 201). */
async function ingest(bundle: Bundle): Promise<Map<string, string>> {
  const res = await fhir(server, 'POST', '', bundle, { prefer: 'return=minimal' });
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(200);
  expect(res.body.entry).toHaveLength(bundle.entry?.length ?? 0);
  const map = new Map<string, string>();
  res.body.entry.forEach((e: any, i: number) => {
    const type = bundle.entry![i].resource!.resourceType;
    expect(e.response.status).toBe('201 Created');
    const m = new RegExp(`^${type}/([^/]+)/_history/1$`).exec(e.response.location);
    expect(m, e.response.location).not.toBeNull();
    map.set(bundle.entry![i].fullUrl as string, `${type}/${m![1]}`);
  });
  return map;
}

/** Reads resources back through the API, 500 to a batch Bundle of GETs. */
async function readBack(targets: string[]): Promise<Map<string, Resource>> {
  const out = new Map<string, Resource>();
  for (let i = 0; i < targets.length; i += 500) {
    const chunk = targets.slice(i, i + 500);
    const res = await fhir(server, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: chunk.map((url) => ({ request: { method: 'GET', url } })),
    });
    expect(res.status).toBe(200);
    res.body.entry.forEach((e: any, j: number) => {
      expect(e.response.status, chunk[j]).toBe('200 OK');
      out.set(chunk[j], e.resource);
    });
  }
  return out;
}

/**
 * Compares a stored resource with the one submitted: equal everywhere except `id`/`meta`, and every placeholder
 * replaced by the `Type/id` of the resource created for it. Returns the problems found and how many references
 * were rewritten.
 */
function compare(
  original: unknown,
  stored: unknown,
  map: Map<string, string>,
  path: string,
  problems: string[],
): number {
  if (typeof original === 'string') {
    const target = map.get(original);
    if (target !== undefined) {
      if (stored !== target) problems.push(`${path}: ${String(stored)} instead of ${target}`);
      return 1;
    }
    if (original.startsWith('urn:uuid:')) problems.push(`${path}: unresolved ${original}`);
    else if (stored !== original) problems.push(`${path}: changed`);
    return 0;
  }
  if (original && typeof original === 'object') {
    let rewritten = 0;
    for (const [key, value] of Object.entries(original)) {
      if (path.indexOf('.') < 0 && (key === 'id' || key === 'meta')) continue;
      rewritten += compare(
        value,
        (stored as Record<string, unknown> | undefined)?.[key],
        map,
        `${path}.${key}`,
        problems,
      );
    }
    return rewritten;
  }
  if (stored !== original) problems.push(`${path}: changed`);
  return 0;
}

/** Ingests bundles one transaction each, reads every resource back and checks every urn:uuid was rewritten. */
async function ingestAndVerify(
  bundles: Bundle[],
): Promise<{ resources: number; references: number; ingestMs: number; byType: Record<string, number> }> {
  let resources = 0;
  let references = 0;
  let ingestMs = 0;
  const byType: Record<string, number> = {};
  for (const bundle of bundles) {
    const started = performance.now();
    const map = await ingest(bundle);
    ingestMs += performance.now() - started;
    const stored = await readBack([...map.values()]);
    const problems: string[] = [];
    for (const entry of bundle.entry ?? []) {
      const target = map.get(entry.fullUrl as string) as string;
      const type = entry.resource!.resourceType;
      references += compare(entry.resource, stored.get(target), map, type, problems);
      byType[type] = (byType[type] ?? 0) + 1;
      resources++;
    }
    expect(problems.slice(0, 10)).toEqual([]);
  }
  return { resources, references, ingestMs, byType };
}

/** Copies of a bundle with fresh placeholders (consistent within each copy), so copies are independent creates. */
function withFreshPlaceholders(bundle: Bundle): Bundle {
  const fresh = new Map<string, string>();
  const text = JSON.stringify(bundle).replace(/urn:uuid:[0-9a-f-]{36}/g, (urn) => {
    if (!fresh.has(urn)) fresh.set(urn, `urn:uuid:${randomUUID()}`);
    return fresh.get(urn) as string;
  });
  return JSON.parse(text) as Bundle;
}

describe('Synthea transaction Bundles', () => {
  it('ingests the fixture bundles; every resource reads back with every urn:uuid rewritten to a created resource', async () => {
    const bundles = bundleFiles(FIXTURES).map(readBundle);
    expect(bundles).toHaveLength(3);
    const { resources, references } = await ingestAndVerify(bundles);
    expect(resources).toBe(210);
    expect(references).toBeGreaterThan(500);
  });

  it('ingests one transaction of more than 2,000 entries', async () => {
    const fixtures = bundleFiles(FIXTURES).map(readBundle);
    const entries = [];
    for (let i = 0; entries.length < 2000; i++)
      entries.push(...(withFreshPlaceholders(fixtures[i % fixtures.length]).entry ?? []));
    const { resources, references } = await ingestAndVerify([
      { resourceType: 'Bundle', type: 'transaction', entry: entries },
    ]);
    expect(resources).toBe(entries.length);
    expect(references).toBeGreaterThan(5000);
  });

  it.skipIf(!TESTDATA)(
    'ingests every Synthea bundle of FHIR_TESTDATA (hospitals and practitioners first)',
    async () => {
      const dir = join(TESTDATA as string, 'synthea', 'bundles');
      const files = bundleFiles(dir);
      const shared = files.filter((f) => /(hospital|practitioner)Information/.test(f));
      const patients = files.filter((f) => !shared.includes(f));
      const { resources, references, ingestMs, byType } = await ingestAndVerify(
        [...shared, ...patients].map(readBundle),
      );
      console.log(
        `Synthea: ${shared.length} shared + ${patients.length} patient bundles, ${resources} resources, ${references} references rewritten; ` +
          `ingest ${(ingestMs / 1000).toFixed(1)} s, one bundle at a time (${Math.round((resources / ingestMs) * 1000)} resources/s; bench/ingest-profile.ts measures properly)\n` +
          Object.entries(byType)
            .sort((a, b) => b[1] - a[1])
            .map(([t, n]) => `  ${t} ${n}`)
            .join('\n'),
      );
      expect(patients.length).toBeGreaterThanOrEqual(103);
      expect(shared).toHaveLength(2);
    },
    900_000,
  );
});
