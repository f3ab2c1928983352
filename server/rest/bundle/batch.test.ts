import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('batch Bundles', () => {
  it('processes each entry on its own: failures become entry outcomes, the rest takes effect, the batch is 200', async () => {
    const existing = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', active: true })).body.id;
    const res = await fhir(server, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: { resourceType: 'Patient', gender: 'female' }, request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'Observation', code: { text: 'no status' } },
          request: { method: 'POST', url: 'Observation' },
        },
        { request: { method: 'GET', url: 'Patient/not-there' } },
        { request: { method: 'GET', url: `Patient/${existing}` } },
        {
          resource: { resourceType: 'Patient', id: existing, active: false },
          request: { method: 'PUT', url: `Patient/${existing}`, ifMatch: 'W/"5"' },
        },
        { request: { url: 'Patient' } },
        { request: { method: 'DELETE', url: `${server.fhirBase}/Patient/${existing}` } },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    const statuses = res.body.entry.map((e: any) => e.response.status);
    // An invalid resource is 400 (structure) or 422 (profile rules), depending on which check refuses it.
    expect(statuses[1]).toMatch(/^(400 Bad Request|422 Unprocessable Entity)$/);
    statuses[1] = 'invalid';
    expect(statuses).toEqual([
      '201 Created',
      'invalid',
      '404 Not Found',
      '410 Gone',
      '412 Precondition Failed',
      '400 Bad Request',
      '200 OK',
    ]);
    for (const i of [1, 2, 3, 4, 5]) expect(res.body.entry[i].response.outcome.resourceType).toBe('OperationOutcome');
    expect(res.body.entry[1].response.outcome.issue[0].severity).toBe('error');

    const created = res.body.entry[0];
    expect(created.response.location).toMatch(/^Patient\/[^/]+\/_history\/1$/);
    expect(created.response.etag).toBe('W/"1"');
    expect((await fhir(server, 'GET', `Patient/${created.resource.id}`)).body.gender).toBe('female');
    // The DELETE ran before the GET (batch order is DELETE, POST, PUT/PATCH, GET), so the read saw it deleted.
    expect((await fhir(server, 'GET', `Patient/${existing}`)).status).toBe(410);
  });

  it('has no entry cap, only the byte limit: a larger body answers 413', async () => {
    const small = await startTestServer({ maxBodyBytes: 20_000 });
    try {
      const entry = (n: number) => Array.from({ length: n }, () => ({ request: { method: 'GET', url: 'Patient/x' } }));
      const fits = await fhir(small, 'POST', '', { resourceType: 'Bundle', type: 'batch', entry: entry(300) });
      expect(fits.status).toBe(200);
      expect(fits.body.entry).toHaveLength(300);
      const tooLarge = await fhir(small, 'POST', '', { resourceType: 'Bundle', type: 'batch', entry: entry(1000) });
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.body.resourceType).toBe('OperationOutcome');
    } finally {
      await small.close();
    }
  });

  it('does not rewrite placeholders between entries (a batch has no interdependencies)', async () => {
    const urn = 'urn:uuid:0d7f3c4e-1111-4000-8000-000000000001';
    const res = await fhir(server, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { fullUrl: urn, resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: urn } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.entry[1].resource.subject.reference).toBe(urn);
  });
});
