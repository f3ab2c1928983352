import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer({ logLevel: 'error' });
});
afterAll(async () => {
  await server?.close();
});

describe('smoke', () => {
  it('finds by name, identifier, date, and chains', async () => {
    const p = await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Müller', given: ['Anna'] }], birthDate: '1980-05-02', identifier: [{ system: 'urn:mrn', value: '123' }] });
    expect(p.status).toBe(201);
    const o = await fhir(server, 'POST', 'Observation', { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, subject: { reference: `Patient/${p.body.id}` }, effectiveDateTime: '2020-01-01T10:00:00Z', valueQuantity: { value: 120, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } });
    expect(o.status).toBe(201);
    const r1 = await fhir(server, 'GET', 'Patient?name=muller');
    console.log(JSON.stringify(r1.body).slice(0, 600));
    expect(r1.body.entry?.length).toBe(1);
    const r2 = await fhir(server, 'GET', 'Observation?patient.identifier=urn:mrn|123&code=http://loinc.org|8480-6&date=ge2020&value-quantity=gt100');
    console.log(JSON.stringify(r2.body).slice(0, 400));
    expect(r2.body.entry?.length).toBe(1);
    const r3 = await fhir(server, 'GET', 'Patient?_has:Observation:patient:code=8480-6&_revinclude=Observation:patient&_total=accurate');
    expect(r3.body.total).toBe(1);
    expect(r3.body.entry?.length).toBe(2);
    const r4 = await fhir(server, 'GET', `Patient/${p.body.id}/Observation?code-value-quantity=http://loinc.org|8480-6$gt119`);
    expect(r4.body.entry?.length).toBe(1);
  });
});
