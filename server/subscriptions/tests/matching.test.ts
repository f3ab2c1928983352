import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { matchesCriteria } from '../../search/conditional.ts';
import { extractIndexRows } from '../../store/indexer.ts';
import { compileEquality } from '../equality.ts';
import { SubscriptionRegistry } from '../registry.ts';
import { criteriaTrigger, type SubscriptionSpec } from '../subscription-spec.ts';

let server: Tributary;
const stored: (Resource & { code?: unknown; subject?: unknown })[] = [];

const OBSERVATIONS = [
  { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, subject: { reference: 'Patient/p1' } },
  { code: { coding: [{ code: '8480-6' }] }, subject: { reference: 'Patient/p2' } },
  {
    code: { coding: [{ system: 'http://snomed.info/sct', code: 'ABC' }] },
    subject: { reference: 'Group/p1' },
    performer: [{ reference: 'Practitioner/d1' }],
  },
  { code: { text: 'no coding' }, subject: { display: 'no reference' }, valueQuantity: { value: 7, unit: 'mg' } },
];

/** Criteria of the shapes subscriptions use; some take the equality fast path, the others need SQL. */
const CRITERIA = [
  'code=8480-6',
  'code=http://loinc.org|8480-6',
  'code=|8480-6',
  'code=http://loinc.org|',
  'code=abc',
  'code=ABC,8480-6',
  'subject=Patient/p1',
  'subject=p1',
  'subject=Group/p1',
  'patient=p1',
  'subject=Patient/p1&code=8480-6',
  'performer=Practitioner/d1',
  'code:not=8480-6',
  'value-quantity=gt5',
  'subject:missing=true',
  'code:text=coding',
];

beforeAll(async () => {
  server = await startTestServer();
  for (const o of OBSERVATIONS)
    stored.push(
      (await fhir(server, 'POST', 'Observation', { resourceType: 'Observation', status: 'final', ...o })).body,
    );
});
afterAll(async () => {
  await server?.close();
});

const query = (text: string) => criteriaTrigger(`Observation?${text}`).criteria;

describe('subscription matching', () => {
  it('the equality fast path decides exactly as the search engine, where it applies', async () => {
    let compared = 0;
    for (const text of CRITERIA) {
      const test = compileEquality('Observation', query(text), server.fhirBase);
      if (!test) continue;
      for (const r of stored) {
        const engine = await matchesCriteria(server.repo, 'Observation', r.id as string, query(text), {
          baseUrl: server.fhirBase,
        });
        expect(
          test(r.id as string, extractIndexRows(r)),
          `${text} on ${JSON.stringify(r.code)} ${JSON.stringify(r.subject)}`,
        ).toBe(engine);
        compared++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(10 * stored.length);
    for (const text of ['code:not=8480-6', 'value-quantity=gt5', 'subject:missing=true'])
      expect(compileEquality('Observation', query(text), server.fhirBase)).toBeUndefined();
  });

  it('the registry never misses a subscription the engine matches (anchors and value filters only narrow)', async () => {
    const registry = new SubscriptionRegistry();
    const specs = CRITERIA.map((text, i): SubscriptionSpec => ({
      id: `s${i}`,
      status: 'active',
      channel: 'rest-hook',
      endpoint: 'https://x.example/',
      headers: [],
      payload: 'empty',
      triggers: [criteriaTrigger(`Observation?${text}`)],
    }));
    for (const spec of specs) registry.set(spec);
    let matches = 0;
    for (const r of stored) {
      const candidates = new Set(
        registry.candidates('Observation', r.id as string, extractIndexRows(r)).map((c) => c.spec.id),
      );
      for (const spec of specs) {
        if (
          !(await matchesCriteria(server.repo, 'Observation', r.id as string, spec.triggers[0].criteria, {
            baseUrl: server.fhirBase,
          }))
        )
          continue;
        matches++;
        expect(
          candidates.has(spec.id),
          `${CRITERIA[Number(spec.id.slice(1))]} matches ${r.id} but is not a candidate`,
        ).toBe(true);
      }
      // And it does narrow: not every subscription is a candidate for every resource.
      expect(candidates.size).toBeLessThan(specs.length);
    }
    expect(matches).toBeGreaterThan(10);
  });
});
