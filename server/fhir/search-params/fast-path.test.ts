import type { Resource } from '@medplum/fhirtypes';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadDefinitions } from '../definitions.ts';
import { extractIndexRows, type IndexRows } from '../../store/indexer.ts';
import { searchParams } from './registry.ts';
import { sampleFor } from '../../search/tests/param-samples.ts';

/**
 * The compiled property walks (fast-path.ts) must index what the FHIRPath engine indexes: compared on a generated
 * resource for every parameter, the conformance fixtures, and (when FHIR_TESTDATA is there) every R4 example and
 * Synthea resource. They never miss a value; they may find more only where @medplum/core's FHIRPath falls short:
 * `where(resolve() is T)` on an absolute reference URL (resolve() there only knows relative ones), and decimals too
 * small for its number handling.
 */
function explained(table: string, row: string): boolean {
  const r = JSON.parse(row) as unknown[];
  if (table === 'reference') return typeof r[3] === 'string' && /^https?:\/\//.test(r[3] as string) && r[1] !== null;
  if (table === 'quantity') return typeof r[3] === 'number' && Math.abs(r[3]) < 1e-100;
  return false;
}

function normalized(rows: IndexRows): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [table, list] of Object.entries(rows))
    out[table] = [...new Set((list as unknown[]).map((r) => JSON.stringify(r)))].sort();
  return out;
}

function check(resources: Resource[]): string[] {
  const differences: string[] = [];
  for (const r of resources) {
    const fast = normalized(extractIndexRows(r));
    const slow = normalized(extractIndexRows(r, { fastPath: false }));
    if (JSON.stringify(fast) !== JSON.stringify(slow)) {
      for (const table of Object.keys(fast)) {
        const a = fast[table].filter((x) => !slow[table].includes(x) && !explained(table, x));
        const b = slow[table].filter((x) => !fast[table].includes(x));
        if (a.length || b.length)
          differences.push(
            `${r.resourceType}/${r.id} ${table}: fast only ${a.join(' ')} | FHIRPath only ${b.join(' ')}`,
          );
      }
    }
  }
  return differences;
}

describe('compiled index expressions agree with FHIRPath', () => {
  it('on a generated resource for every parameter and on the fixtures', () => {
    const { resourceTypes } = loadDefinitions();
    const resources: Resource[] = [];
    for (const type of resourceTypes) {
      for (const p of searchParams(type)) {
        const sample = sampleFor(type, p);
        if (sample) resources.push({ ...sample.resource, id: `${type}-${p.code}` } as Resource);
      }
    }
    resources.push(
      ...JSON.parse(
        readFileSync(new URL('../../search/tests/fixtures/conformance-data.json', import.meta.url), 'utf8'),
      ),
    );
    expect(resources.length).toBeGreaterThan(2500);
    expect(check(resources)).toEqual([]);
  });

  const data = resolve(process.env.FHIR_TESTDATA ?? '../shared/data');
  it.skipIf(!existsSync(join(data, 'fhir-r4-examples')))('on every R4 example and Synthea resource', () => {
    const resources: Resource[] = [];
    const examples = join(data, 'fhir-r4-examples/fhir_models-json');
    for (const f of readdirSync(examples)) {
      const r = JSON.parse(readFileSync(join(examples, f), 'utf8'));
      if (loadDefinitions().resourceTypeSet.has(r.resourceType)) resources.push(r);
    }
    const synthea = join(data, 'synthea/bundles');
    for (const f of readdirSync(synthea).slice(0, 10)) {
      const bundle = JSON.parse(gunzipSync(readFileSync(join(synthea, f))).toString('utf8'));
      resources.push(...bundle.entry.map((e: { resource: Resource }) => e.resource));
    }
    const differences = check(resources);
    console.log(`compared ${resources.length} resources, ${differences.length} differences`);
    expect(differences).toEqual([]);
  });
});
