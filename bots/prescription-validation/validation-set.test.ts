import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { CHECK_SYSTEM } from './check.ts';
import { CASES } from './tests/cases.ts';
import { loadFixtures } from './tests/fixtures.ts';

/**
 * The test set of issue 18: every prescription of tests/cases.ts through `POST MedicationRequest/$validate-prescription`
 * on a real server, against the fixtures' records. Each problem must be found with its layer's code and severity,
 * and nothing else; each clean prescription must give an empty Bundle.
 */
let server: Tributary;

beforeAll(async () => {
  server = await startTestServer({}, { BOTS: 'prescription-validation' });
  // the bot is switched off so that only the operation looks at the fixtures (the bot has tests of its own)
  const off = [{ op: 'replace', path: '/status', value: 'inactive' }];
  await fhir(server, 'PATCH', 'Device/bot-prescription-validation', off, {
    'content-type': 'application/json-patch+json',
  });
  await loadFixtures(server);
});
afterAll(async () => {
  await server?.close();
});

describe('the prescription test set', () => {
  it('has at least 60 requests, problems and clean ones', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(CASES.filter((c) => c.expect.length === 0).length).toBeGreaterThanOrEqual(25);
    expect(new Set(CASES.flatMap((c) => c.expect.map((e) => e.split(':')[0])))).toEqual(
      new Set(['interaction', 'allergy', 'dose', 'refill', 'duplicate', 'prescriber', 'patient', 'structure']),
    );
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await fhir(server, 'POST', 'MedicationRequest/$validate-prescription', c.body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.resourceType).toBe('Bundle');
    expect(res.body.type).toBe('collection');
    const issues = (res.body.entry ?? []).map((e: any) => e.resource);
    const found = issues
      .map((i: any) => `${i.code.coding.find((k: any) => k.system === CHECK_SYSTEM).code}:${i.severity}`)
      .sort();
    expect(found, issues.map((i: any) => i.detail).join('\n')).toEqual(c.expect);
    for (const issue of issues) {
      expect(issue.resourceType).toBe('DetectedIssue');
      expect(issue.detail).toEqual(expect.any(String));
      expect(issue.implicated.length).toBeGreaterThanOrEqual(1);
      expect(issue.mitigation?.[0]?.action?.text).toEqual(expect.any(String));
    }
  });
});
