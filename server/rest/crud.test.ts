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
    const created = await fhir(server, 'POST', 'Patient', {
      resourceType: 'Patient',
      id: 'ignored',
      name: [{ family: 'Doe' }],
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(id).not.toBe('ignored');
    expect(created.headers.get('etag')).toBe('W/"1"');
    expect(created.headers.get('location')).toBe(`${server.fhirBase}/Patient/${id}/_history/1`);

    const read = await fhir(server, 'GET', `Patient/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.name).toEqual([{ family: 'Doe' }]);

    const updated = await fhir(
      server,
      'PUT',
      `Patient/${id}`,
      { ...read.body, gender: 'female' },
      { 'if-match': 'W/"1"' },
    );
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
    const res = await fhir(server, 'PUT', 'Patient/client-chosen-1', {
      resourceType: 'Patient',
      id: 'client-chosen-1',
    });
    expect(res.status).toBe(201);
    expect((await fhir(server, 'GET', 'Patient/client-chosen-1')).body.id).toBe('client-chosen-1');
  });

  it('If-None-Match: * on PUT creates a new id but answers 412 for an existing one, changing nothing', async () => {
    const fresh = await fhir(
      server,
      'PUT',
      'Patient/create-only-1',
      { resourceType: 'Patient', id: 'create-only-1', gender: 'male' },
      { 'if-none-match': '*' },
    );
    expect(fresh.status).toBe(201);
    const again = await fhir(
      server,
      'PUT',
      'Patient/create-only-1',
      { resourceType: 'Patient', id: 'create-only-1', gender: 'female' },
      { 'if-none-match': '*' },
    );
    expect(again.status).toBe(412);
    expect(again.body.resourceType).toBe('OperationOutcome');
    const read = await fhir(server, 'GET', 'Patient/create-only-1');
    expect(read.body).toMatchObject({ gender: 'male', meta: { versionId: '1' } });
    // An ETag list refuses the listed versions only; a deleted resource has no current version, so `*` lets it be made again.
    expect((await fhir(server, 'PUT', 'Patient/create-only-1', read.body, { 'if-none-match': 'W/"1"' })).status).toBe(
      412,
    );
    expect(
      (await fhir(server, 'PUT', 'Patient/create-only-1', read.body, { 'if-none-match': 'W/"7", W/"8"' })).status,
    ).toBe(200);
    expect((await fhir(server, 'DELETE', 'Patient/create-only-1')).status).toBe(200);
    expect((await fhir(server, 'PUT', 'Patient/create-only-1', read.body, { 'if-none-match': '*' })).status).toBe(201);
  });

  it('If-None-Match: * in a batch entry answers that entry 412', async () => {
    await fhir(server, 'PUT', 'Patient/create-only-2', { resourceType: 'Patient', id: 'create-only-2' });
    const batch = await fhir(server, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          resource: { resourceType: 'Patient', id: 'create-only-2', active: true },
          request: { method: 'PUT', url: 'Patient/create-only-2', ifNoneMatch: '*' },
        },
      ],
    });
    expect(batch.status).toBe(200);
    expect(batch.body.entry[0].response.status).toMatch(/^412/);
  });

  it('HEAD answers like GET without a body: status, ETag, Content-Type', async () => {
    await fhir(server, 'PUT', 'Patient/head-1', { resourceType: 'Patient', id: 'head-1' });
    for (const path of ['Patient/head-1', 'Patient?_id=head-1', 'metadata', 'Patient/head-1/_history/1']) {
      const get = await fetch(`${server.fhirBase}/${path}`);
      const head = await fetch(`${server.fhirBase}/${path}`, { method: 'HEAD' });
      expect(head.status, path).toBe(200);
      expect(head.headers.get('content-type'), path).toBe(get.headers.get('content-type'));
      expect(head.headers.get('etag'), path).toBe(get.headers.get('etag'));
      expect(await head.text(), path).toBe('');
    }
    const missing = await fetch(`${server.fhirBase}/Patient/no-such-head`, { method: 'HEAD' });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('');
  });

  it('answers unknown types with 404 and a wrong resourceType with 400', async () => {
    expect((await fhir(server, 'GET', 'Nonsense/1')).status).toBe(404);
    const wrong = await fhir(server, 'POST', 'Patient', { resourceType: 'Observation' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.issue[0].expression).toEqual(['resourceType']);
  });

  it('refuses nulls and non-object metas on create, update and transaction entries exactly as $validate reports them', async () => {
    const cases: Record<string, unknown>[] = [
      { meta: null },
      { meta: 'x' },
      { meta: [1] },
      { meta: { versionId: null } },
      { meta: { lastUpdated: null } },
      { meta: { tag: [null] } },
      { id: null },
      { active: null },
      { name: [{ given: ['A', null] }] },
      { maritalStatus: 5 },
    ];
    for (const extra of cases) {
      const label = JSON.stringify(extra);
      const resource = { resourceType: 'Patient', ...extra };
      const validated = await fhir(server, 'POST', 'Patient/$validate', resource);
      expect(validated.status, label).toBe(200);
      const expected = validated.body.issue.filter((i: any) => i.severity === 'error');
      expect(expected.length, label).toBeGreaterThan(0);
      expect(
        expected.map((i: any) => i.code),
        label,
      ).toEqual(expected.map(() => 'structure'));

      const created = await fhir(server, 'POST', 'Patient', resource);
      expect(created.status, label).toBe(400);
      expect(created.body.issue, label).toEqual(expected);
      if (!('id' in extra)) {
        const updated = await fhir(server, 'PUT', 'Patient/nulls-1', { ...resource, id: 'nulls-1' });
        expect(updated.status, label).toBe(400);
        expect(
          updated.body.issue.map((i: any) => i.diagnostics),
          label,
        ).toEqual(expected.map((i: any) => i.diagnostics));
      }
      const transaction = await fhir(server, 'POST', '', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: { resourceType: 'Patient', name: [{ family: 'Kept-Out' }] },
            request: { method: 'POST', url: 'Patient' },
          },
          { resource, request: { method: 'POST', url: 'Patient' } },
        ],
      });
      expect(transaction.status, label).toBe(400);
      expect(transaction.body.issue.map((i: any) => i.diagnostics).join(' '), label).toContain(expected[0].diagnostics);
    }
    expect((await fhir(server, 'GET', 'Patient/nulls-1')).status).toBe(404);
    expect((await fhir(server, 'GET', 'Patient?family=Kept-Out')).body.total ?? 0).toBe(0);
  });

  it('a Bundle with "meta": null is refused on create as $validate refuses it; "meta": {} is filled by the server', async () => {
    const bundle = { resourceType: 'Bundle', type: 'collection', meta: null };
    const validated = await fhir(server, 'POST', 'Bundle/$validate', bundle);
    expect(validated.body.issue).toEqual([
      { severity: 'error', code: 'structure', diagnostics: 'Null values are not allowed', expression: ['Bundle.meta'] },
    ]);
    const created = await fhir(server, 'POST', 'Bundle', bundle);
    expect(created.status).toBe(400);
    expect(created.body.issue).toEqual(validated.body.issue);
    const empty = await fhir(server, 'POST', 'Bundle', { ...bundle, meta: {} });
    expect(empty.status).toBe(201);
    expect(empty.body.meta.versionId).toBe('1');
  });
});
