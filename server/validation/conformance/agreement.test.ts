import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agreementTable, loadCases, runCase } from './agreement.ts';

/**
 * Agreement with the HL7 validator on its R4 JSON test cases, when FHIR_TEST_CASES points at a checkout of the public
 * FHIR/fhir-test-cases repository (kept outside the project). The floor is the agreement measured when this test was
 * written on the cases that need no terminology server or packages; it may only go up.
 */
const root = process.env.FHIR_TEST_CASES;
const dir = root && existsSync(join(root, 'validator/manifest.json')) ? join(root, 'validator') : undefined;
const FLOOR = 0.62;

describe.skipIf(!dir)('agreement with the HL7 validator (fhir-test-cases)', () => {
  it('reaches the same verdict on at least the recorded share of local cases', () => {
    const results = loadCases(dir!).map((c) => runCase(dir!, c));
    console.log(agreementTable(results));
    const local = results.filter((r) => !r.needsTx && !r.needsPackages);
    expect(local.length).toBeGreaterThan(200);
    expect(local.filter((r) => r.agrees).length / local.length).toBeGreaterThanOrEqual(FLOOR);
  }, 300_000);
});
