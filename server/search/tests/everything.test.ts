import { readFileSync } from 'node:fs';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import type { FhirContext } from '../../core/types.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
  const fixtures = JSON.parse(readFileSync(new URL('./fixtures/conformance-data.json', import.meta.url), 'utf8'));
  for (const r of fixtures) await fhir(server, 'PUT', `${r.resourceType}/${r.id}`, r);
});
afterAll(async () => {
  await server?.close();
});

async function everything(query: string): Promise<string[]> {
  const ids: string[] = [];
  let path: string | undefined = `Patient/pat-anna/$everything${query}`;
  while (path) {
    const res = await fhir(server, 'GET', path);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    ids.push(
      ...(res.body.entry ?? [])
        .filter((e: any) => e.search.mode === 'match')
        .map((e: any) => `${e.resource.resourceType}/${e.resource.id}`),
    );
    const next = res.body.link.find((l: { relation: string }) => l.relation === 'next')?.url;
    path = next?.slice(server.fhirBase.length + 1);
  }
  return ids;
}

describe('Patient/$everything', () => {
  const anna = [
    'Encounter/enc-1',
    'MedicationRequest/mr-1',
    'Observation/obs-1',
    'Observation/obs-2',
    'Patient/pat-anna',
    'Practitioner/prac-1',
    'RiskAssessment/ra-1',
    'RiskAssessment/ra-2',
    'RiskAssessment/ra-3',
  ];

  it('returns the patient, its compartment and what those refer to', async () => {
    expect((await everything('')).sort()).toEqual(anna);
  });

  it('pages without repeating or skipping', async () => {
    const paged = await everything('?_count=3');
    expect(paged.length).toBe(new Set(paged).size);
    expect(paged.sort()).toEqual(anna);
  });

  it('filters by _type and _since', async () => {
    expect((await everything('?_type=Observation,Encounter')).sort()).toEqual([
      'Encounter/enc-1',
      'Observation/obs-1',
      'Observation/obs-2',
    ]);
    expect(await everything('?_since=2999-01-01')).toEqual([]);
    expect((await everything('?_since=2000-01-01')).length).toBe(anna.length);
  });

  it('answers 404 for an unknown patient and respects access restrictions', async () => {
    expect((await fhir(server, 'GET', 'Patient/nobody/$everything')).status).toBe(404);
    const ctx: FhirContext = {
      repo: server.repo,
      baseUrl: 'http://localhost/fhir',
      requestId: 't',
      access: {
        kind: 'patient',
        visibleWhere: (type) =>
          type === 'Observation' ? [{ code: ['8480-6'] }] : type === 'Practitioner' ? [] : undefined,
      },
    };
    const res = await server.router.handle(ctx, {
      method: 'GET',
      path: 'Patient/pat-anna/$everything',
      query: {},
      headers: {},
    });
    const ids = JSON.parse(res.content as string).entry.map(
      (e: { resource: Resource }) => `${e.resource.resourceType}/${e.resource.id}`,
    );
    expect(ids.sort()).toEqual(anna.filter((r) => r !== 'Observation/obs-2' && r !== 'Practitioner/prac-1'));
  });
});
