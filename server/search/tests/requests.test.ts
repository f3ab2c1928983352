import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';

/** The search interaction itself: errors naming the parameter, totals, _summary=count, POST _search, links. */
let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
  for (let i = 0; i < 5; i++) {
    await fhir(server, 'PUT', `Patient/req-${i}`, {
      resourceType: 'Patient',
      id: `req-${i}`,
      gender: i % 2 ? 'male' : 'female',
      birthDate: `198${i}-01-01`,
    });
  }
});
afterAll(async () => {
  await server?.close();
});

describe('search requests', () => {
  it.each([
    ['Patient?birthdate=1980-13-01', 'birthdate'],
    ['Patient?birthdate=yesterday', 'birthdate'],
    ['RiskAssessment?probability=high', 'probability'],
    ['Observation?value-quantity=ten||mg', 'value-quantity'],
    ['Patient?name:fuzzy=x', 'name:fuzzy'],
    ['Patient?gender:missing=maybe', 'gender:missing'],
    ['Patient?_count=-1', '_count'],
    ['Patient?_total=all', '_total'],
    ['Patient?_summary=short', '_summary'],
    ['Patient?_include=Patient:nothing', '_include'],
    ['Patient?_include=Observation', '_include'],
    ['Patient?_cursor=not-a-cursor', '_cursor'],
    ['Patient?general-practitioner:Observation=1', 'general-practitioner:Observation'],
    ['Patient?_has:Observation=x', '_has:Observation'],
    ['Patient?gender.name=x', 'gender.name'],
    ['Observation?code-value-quantity=1', 'code-value-quantity'],
    ['Location?near=north|south', 'near'],
  ])('%s → 400 naming %s', async (query, name) => {
    const res = await fhir(server, 'GET', query);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].expression).toEqual([name]);
  });

  it('treats unknown parameters leniently by default and strictly on request', async () => {
    const lenient = await fhir(server, 'GET', 'Patient?unknown=1&gender=male');
    expect(lenient.status).toBe(200);
    const outcome = lenient.body.entry.find((e: any) => e.search.mode === 'outcome');
    expect(outcome.resource.issue[0].diagnostics).toContain('unknown');
    expect(lenient.body.link[0].url).toBe(`${server.fhirBase}/Patient?gender=male`);
    expect((await fhir(server, 'GET', 'Patient?unknown=1', undefined, { prefer: 'handling=strict' })).status).toBe(400);
  });

  it('ignores parameters without a value', async () => {
    const res = await fhir(server, 'GET', 'Patient?name=&birthdate=&gender=male');
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: any) => e.resource.id).sort()).toEqual(['req-1', 'req-3']);
    expect(res.body.link[0].url).toBe(`${server.fhirBase}/Patient?gender=male`);
  });

  it('keeps values out of SQL', async () => {
    const res = await fhir(
      server,
      'GET',
      `Patient?name=${encodeURIComponent("x'); DROP TABLE resource; --")}&_id=${encodeURIComponent("' OR 1=1 --")}`,
    );
    expect(res.status).toBe(200);
    expect(res.body.entry ?? []).toEqual([]);
    expect((await fhir(server, 'GET', 'Patient/req-1')).status).toBe(200);
  });

  it('answers totals: none, estimate, accurate, _summary=count and _count=0', async () => {
    expect((await fhir(server, 'GET', 'Patient?_count=2&_total=accurate')).body.total).toBe(5);
    expect((await fhir(server, 'GET', 'Patient?_count=2&_total=none')).body.total).toBeUndefined();
    expect((await fhir(server, 'GET', 'Patient?_count=2')).body.total).toBeUndefined();
    expect((await fhir(server, 'GET', 'Patient?_count=10')).body.total).toBe(5);
    expect(typeof (await fhir(server, 'GET', 'Patient?_count=2&_total=estimate')).body.total).toBe('number');
    const count = await fhir(server, 'GET', 'Patient?gender=male&_summary=count');
    expect(count.body.total).toBe(2);
    expect(count.body.entry).toBeUndefined();
    expect((await fhir(server, 'GET', 'Patient?_count=0')).body.total).toBe(5);
  });

  it('supports POST _search with a form body, and links that page', async () => {
    const res = await fhir(server, 'POST', 'Patient/_search', 'gender=female&_count=2&_sort=birthdate', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: any) => e.resource.id)).toEqual(['req-0', 'req-2']);
    const next = res.body.link.find((l: any) => l.relation === 'next').url as string;
    expect(next).toContain('gender=female');
    const page2 = await fhir(server, 'GET', next.slice(server.fhirBase.length + 1));
    expect(page2.body.entry.map((e: any) => e.resource.id)).toEqual(['req-4']);
    expect(page2.body.link.find((l: any) => l.relation === 'self').url).toContain('_cursor=');
    expect(page2.body.link.find((l: any) => l.relation === 'next')).toBeUndefined();
    expect(page2.body.link.find((l: any) => l.relation === 'first').url).toBe(
      `${server.fhirBase}/Patient?gender=female&_count=2&_sort=birthdate`,
    );
  });

  it('searches across types with _type and answers unknown types and compartments', async () => {
    const res = await fhir(server, 'GET', '?_type=Patient&_count=1');
    expect(res.body.link[0].url).toBe(`${server.fhirBase}?_type=Patient&_count=1`);
    expect((await fhir(server, 'GET', '?_type=Nothing')).status).toBe(400);
    expect((await fhir(server, 'GET', 'Nothing?x=1')).status).toBe(404);
    expect((await fhir(server, 'GET', 'Patient/req-1/Organization')).status).toBe(400);
    expect((await fhir(server, 'GET', 'Organization/1/Patient')).status).toBe(404);
  });
});
