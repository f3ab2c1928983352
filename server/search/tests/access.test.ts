import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { startTestServer } from '../../../test/harness.ts';
import type { AccessContext, FhirContext, SearchCriteria } from '../../core/types.ts';
import { findMatchingIds, matchesCriteria } from '../conditional.ts';

/**
 * A hand-made AccessContext (patient A, and only vital-sign Observations of A) proves that nothing outside it is
 * returned, counted, included, chained or reverse-chained through, in compartments, `_list` or conditional matching.
 */
const RESTRICTIONS: Record<string, SearchCriteria[]> = {
  Patient: [{ _id: ['pat-a'] }],
  Observation: [{ subject: ['Patient/pat-a'], category: ['vital-signs'] }],
  Encounter: [{ subject: ['Patient/pat-a'] }],
  MedicationRequest: [{ subject: ['Patient/pat-a'] }],
  List: [],
};
const access: AccessContext = { kind: 'patient', actor: 'Patient/pat-a', visibleWhere: (type) => RESTRICTIONS[type] };

const vital = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }],
};
const lab = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] };
const code = { coding: [{ system: 'http://loinc.org', code: '8480-6' }] };
const FIXTURES = [
  { resourceType: 'Practitioner', id: 'prac-1', name: [{ family: 'House' }] },
  {
    resourceType: 'Patient',
    id: 'pat-a',
    name: [{ family: 'Alpha' }],
    generalPractitioner: [{ reference: 'Practitioner/prac-1' }],
  },
  {
    resourceType: 'Patient',
    id: 'pat-b',
    name: [{ family: 'Beta' }],
    generalPractitioner: [{ reference: 'Practitioner/prac-1' }],
  },
  {
    resourceType: 'Observation',
    id: 'obs-a1',
    status: 'final',
    category: [vital],
    code,
    subject: { reference: 'Patient/pat-a' },
    performer: [{ reference: 'Patient/pat-b' }],
  },
  {
    resourceType: 'Observation',
    id: 'obs-a2',
    status: 'final',
    category: [lab],
    code,
    subject: { reference: 'Patient/pat-a' },
  },
  {
    resourceType: 'Observation',
    id: 'obs-b1',
    status: 'final',
    category: [vital],
    code,
    subject: { reference: 'Patient/pat-b' },
  },
  {
    resourceType: 'Encounter',
    id: 'enc-b',
    status: 'finished',
    class: { code: 'AMB' },
    subject: { reference: 'Patient/pat-b' },
    participant: [{ individual: { reference: 'Practitioner/prac-1' } }],
  },
  {
    resourceType: 'MedicationRequest',
    id: 'mr-b',
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/pat-b' },
    medicationReference: { reference: '#m' },
    contained: [{ resourceType: 'Medication', id: 'm', status: 'active' }],
  },
  {
    resourceType: 'List',
    id: 'list-1',
    status: 'current',
    mode: 'working',
    entry: [{ item: { reference: 'Observation/obs-b1' } }, { item: { reference: 'Observation/obs-a1' } }],
  },
];

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer({ validateWrites: false });
  for (const r of FIXTURES) await server.repo.update(r as Resource & { id: string });
});
afterAll(async () => {
  await server?.close();
});

async function search(path: string, who: AccessContext = access): Promise<{ ids: string[]; total?: number }> {
  const ctx: FhirContext = { repo: server.repo, baseUrl: 'http://localhost/fhir', requestId: 'access', access: who };
  const [p, qs = ''] = path.split('?');
  const query: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(qs)) (query[k] ??= []).push(v);
  const res = await server.router.handle(ctx, { method: 'GET', path: p, query, headers: {} });
  const bundle = JSON.parse(res.content as string);
  return { ids: (bundle.entry ?? []).map((e: { resource: Resource }) => e.resource.id).sort(), total: bundle.total };
}

describe('AccessContext.visibleWhere is ANDed into every query', () => {
  it.each([
    ['Observation', ['obs-a1']],
    ['Observation?code=8480-6', ['obs-a1']],
    ['Patient', ['pat-a']],
    ['Patient?_revinclude=Observation:subject', ['obs-a1', 'pat-a']],
    ['Observation?_include=Observation:subject&_include=Observation:performer', ['obs-a1', 'pat-a']],
    ['Observation?subject.name=beta', []],
    ['Observation?performer:Patient.name=beta', []],
    ['Observation?subject.name=alpha', ['obs-a1']],
    ['Patient?_has:Observation:subject:category=laboratory', []],
    ['Practitioner?_has:Encounter:practitioner:status=finished', []],
    ['Practitioner?_has:Patient:general-practitioner:name=beta', []],
    ['Practitioner?_has:Patient:general-practitioner:name=alpha', ['prac-1']],
    ['Practitioner?_revinclude=Patient:general-practitioner', ['pat-a', 'prac-1']],
    // obs-a1 names pat-b as performer, so it is in pat-b's compartment, and it is visible; obs-b1 is not visible.
    ['Patient/pat-b/Observation', ['obs-a1']],
    ['Patient/pat-a/Observation', ['obs-a1']],
    ['Observation?_list=list-1', []],
    ['?_type=Patient,Observation', ['obs-a1', 'pat-a']],
    ['Medication?_contained=true', []],
    ['Medication?_contained=true&_containedType=container', []],
    ['?_id=obs-a1,obs-a2,obs-b1,pat-a,pat-b,prac-1', ['obs-a1', 'pat-a', 'prac-1']],
  ])('%s', async (path, expected) => {
    expect((await search(path)).ids).toEqual(expected);
    expect((await search(path, { kind: 'system' })).ids.length).toBeGreaterThanOrEqual(expected.length);
  });

  it('counts only what is visible', async () => {
    expect((await search('Observation?_total=accurate&_count=1')).total).toBe(1);
    expect((await search('Observation?_summary=count')).total).toBe(1);
    expect((await search('Observation?_summary=count', { kind: 'system' })).total).toBe(3);
    expect((await search('Medication?_contained=true', { kind: 'system' })).ids).toEqual(['m']);
  });

  it('answers whether one stored resource matches criteria (subscriptions), within access', async () => {
    expect(
      await matchesCriteria(server.repo, 'Observation', 'obs-a2', { code: ['8480-6'], category: ['laboratory'] }),
    ).toBe(true);
    expect(await matchesCriteria(server.repo, 'Observation', 'obs-a2', { category: ['vital-signs'] })).toBe(false);
    expect(await matchesCriteria(server.repo, 'Observation', 'obs-a2', { code: ['8480-6'] }, { access })).toBe(false);
    expect(await matchesCriteria(server.repo, 'Observation', 'obs-a1', { 'subject.name': ['alpha'] }, { access })).toBe(
      true,
    );
  });

  it('conditional matching sees only what is visible', async () => {
    expect(await findMatchingIds(server.repo, 'Observation', { code: ['8480-6'] }, 10, { access })).toEqual(['obs-a1']);
    expect((await findMatchingIds(server.repo, 'Observation', { code: ['8480-6'] }, 10)).sort()).toEqual([
      'obs-a1',
      'obs-a2',
      'obs-b1',
    ]);
  });
});
