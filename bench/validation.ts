/**
 * Validation cost per resource on the Synthea bundles: `npx tsx bench/validation.ts [bundles] [rounds]`
 * (defaults: all bundles, 3 rounds; the first round warms up and is not counted). Prints µs per resource for the
 * write check (JSON schema + rules) and its parts, by resource type, and @medplum/core's validateResource for
 * comparison. Data: `$FHIR_TESTDATA/synthea/bundles` (default ../shared/data).
 */
import { validateResource } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadDefinitions } from '../server/fhir/definitions.ts';
import { checkStructure } from '../server/validation/json-schema.ts';
import { checkRules } from '../server/validation/rules.ts';
import { checkWrite, prepareValidation } from '../server/validation/validator.ts';

const dataDir = resolve(
  process.env.FHIR_TESTDATA ?? resolve(import.meta.dirname, '../../shared/data'),
  'synthea/bundles',
);
const bundleCount = Number(process.argv[2] ?? Infinity);
const rounds = Math.max(2, Number(process.argv[3] ?? 3));

let started = performance.now();
loadDefinitions();
const loadMs = performance.now() - started;
started = performance.now();
prepareValidation();
const compileMs = performance.now() - started;

const resources: Resource[] = [];
for (const file of readdirSync(dataDir)
  .filter((f) => f.endsWith('.json.gz'))
  .sort()
  .slice(0, bundleCount)) {
  const bundle = JSON.parse(gunzipSync(readFileSync(resolve(dataDir, file))).toString()) as Bundle;
  for (const entry of bundle.entry ?? []) if (entry.resource) resources.push(entry.resource);
}

type Check = (r: Resource) => unknown;
const quietly =
  (check: Check): Check =>
  (r) => {
    try {
      return check(r);
    } catch {
      return undefined;
    }
  };

/** Mean µs per resource over the counted rounds, overall and by type. */
function measure(check: Check): { mean: number; byType: Map<string, number> } {
  const totals = new Map<string, { ns: number; n: number }>();
  let all = 0;
  for (let round = 0; round < rounds; round++) {
    for (const r of resources) {
      const t = process.hrtime.bigint();
      check(r);
      const ns = Number(process.hrtime.bigint() - t);
      if (round === 0) continue;
      all += ns;
      const s = totals.get(r.resourceType) ?? { ns: 0, n: 0 };
      s.ns += ns;
      s.n++;
      totals.set(r.resourceType, s);
    }
  }
  const counted = resources.length * (rounds - 1);
  return { mean: all / counted / 1000, byType: new Map([...totals].map(([k, v]) => [k, v.ns / v.n / 1000])) };
}

let failures = 0;
for (const r of resources) {
  try {
    checkWrite(r);
  } catch {
    failures++;
  }
}

const write = measure(quietly(checkWrite));
const structure = measure(quietly(checkStructure));
const rules = measure(quietly(checkRules));
const medplum = measure(quietly((r) => validateResource(r)));

console.log(
  `${resources.length} Synthea resources, ${rounds - 1} counted rounds; definitions ${loadMs.toFixed(0)} ms, schema compile ${compileMs.toFixed(0)} ms; refused by the write check: ${failures}`,
);
const counts = new Map<string, number>();
for (const r of resources) counts.set(r.resourceType, (counts.get(r.resourceType) ?? 0) + 1);
const rows = [...counts].sort((a, b) => b[1] - a[1]);
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(
  `${'resource type'.padEnd(22)}${pad('count', 7)}${pad('write µs', 10)}${pad('schema', 9)}${pad('rules', 8)}${pad('medplum', 9)}`,
);
for (const [type, n] of rows) {
  const f = (m: { byType: Map<string, number> }) => (m.byType.get(type) ?? 0).toFixed(1);
  console.log(
    `${type.padEnd(22)}${pad(n, 7)}${pad(f(write), 10)}${pad(f(structure), 9)}${pad(f(rules), 8)}${pad(f(medplum), 9)}`,
  );
}
const m = (x: { mean: number }) => x.mean.toFixed(1);
console.log(
  `${'ALL (mean per resource)'.padEnd(29)}${pad(m(write), 10)}${pad(m(structure), 9)}${pad(m(rules), 8)}${pad(m(medplum), 9)}`,
);
