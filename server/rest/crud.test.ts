import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('create / read / update / delete', () => {
  it('creates with a server id, reads it back, versions updates and keeps history after delete', async () => {
    const created = await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', id: 'ignored', name: [{ family: 'Doe' }] });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(id).not.toBe('ignored');
    expect(created.headers.get('etag')).toBe('W/"1"');
    expect(created.headers.get('location')).toBe(`${server.fhirBase}/Patient/${id}/_history/1`);

    const read = await fhir(server, 'GET', `Patient/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.name).toEqual([{ family: 'Doe' }]);

    const updated = await fhir(server, 'PUT', `Patient/${id}`, { ...read.body, gender: 'female' }, { 'if-match': 'W/"1"' });
    expect(updated.status).toBe(200);
    expect(updated.body.meta.versionId).toBe('2');

    const stale = await fhir(server, 'PUT', `Patient/${id}`, { ...read.body, gender: 'male' }, { 'if-match': 'W/"1"' });
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');

    expect((await fhir(server, 'DELETE', `Patient/${id}`)).status).toBe(200);
    expect((await fhir(server, 'GET', `Patient/${id}`)).status).toBe(410);
    const v1 = await fhir(server, 'GET', `Patient/${id}/_history/1`);
    expect(v1.body.name).toEqual([{ family: 'Doe' }]);
    const history = await fhir(server, 'GET', `Patient/${id}/_history`);
    expect(history.body.entry.map((e: any) => e.request.method)).toEqual(['DELETE', 'PUT', 'POST']);
  });

  it('update-as-create honours the client id', async () => {
    const res = await fhir(server, 'PUT', 'Patient/client-chosen-1', { resourceType: 'Patient', id: 'client-chosen-1' });
    expect(res.status).toBe(201);
    expect((await fhir(server, 'GET', 'Patient/client-chosen-1')).body.id).toBe('client-chosen-1');
  });

  it('answers unknown types with 404 and a wrong resourceType with 400', async () => {
    expect((await fhir(server, 'GET', 'Nonsense/1')).status).toBe(404);
    const wrong = await fhir(server, 'POST', 'Patient', { resourceType: 'Observation' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.issue[0].expression).toEqual(['resourceType']);
  });
});
