import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { tableCounts } from '../../../test/table-counts.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

function transaction(entry: unknown[]) {
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

const PATIENT_URN = 'urn:uuid:6f1c7c10-0000-4000-8000-000000000001';
const OBS_URN = 'urn:uuid:6f1c7c10-0000-4000-8000-000000000002';

function observation(subject: string, extra: Record<string, unknown> = {}) {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'weight' },
    subject: { reference: subject },
    ...extra,
  };
}

async function createPatient(identifier?: { system: string; value: string }): Promise<string> {
  const res = await fhir(server, 'POST', 'Patient', {
    resourceType: 'Patient',
    ...(identifier ? { identifier: [identifier] } : {}),
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

describe('transaction Bundles', () => {
  it('creates entries, rewrites urn:uuid placeholders everywhere, and answers a transaction-response in request order', async () => {
    const existing = await createPatient();
    const bundle = transaction([
      { request: { method: 'GET', url: 'Patient/tx-client-id' } },
      {
        fullUrl: OBS_URN,
        resource: observation(PATIENT_URN, {
          text: {
            status: 'generated',
            div: `<div xmlns="http://www.w3.org/1999/xhtml"><a href="${PATIENT_URN}">patient</a></div>`,
          },
          derivedFrom: [{ reference: `${PATIENT_URN}/_history/1` }],
        }),
        request: { method: 'POST', url: 'Observation' },
      },
      {
        fullUrl: PATIENT_URN,
        resource: {
          resourceType: 'Patient',
          id: 'ignored',
          name: [{ family: 'Placeholder' }],
          extension: [{ url: 'http://example.org/self', valueUri: PATIENT_URN }],
          link: [{ other: { reference: OBS_URN.replace('2', '3') }, type: 'seealso' }],
        },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        resource: { resourceType: 'Patient', id: 'tx-client-id', active: true },
        request: { method: 'PUT', url: 'Patient/tx-client-id' },
      },
      { request: { method: 'DELETE', url: `Patient/${existing}` } },
    ]);
    const res = await fhir(server, 'POST', '', bundle);
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('Bundle');
    expect(res.body.type).toBe('transaction-response');
    const [get, obs, patient, put, del] = res.body.entry;
    // GET runs after the PUT, whatever the order in the request.
    expect(get.response.status).toBe('200 OK');
    expect(get.resource.active).toBe(true);
    expect(obs.response.status).toBe('201 Created');
    expect(patient.response.status).toBe('201 Created');
    expect(put.response.status).toBe('201 Created');
    expect(del.response.status).toBe('200 OK');
    expect(del.response.outcome.resourceType).toBe('OperationOutcome');

    const patientId = patient.resource.id;
    expect(patientId).not.toBe('ignored');
    expect(patient.response.location).toBe(`Patient/${patientId}/_history/1`);
    expect(patient.response.etag).toBe('W/"1"');
    expect(patient.response.lastModified).toBe(patient.resource.meta.lastUpdated);
    expect(patient.fullUrl).toBe(`${server.fhirBase}/Patient/${patientId}`);

    const storedObs = (await fhir(server, 'GET', obs.response.location.replace(/\/_history\/1$/, ''))).body;
    expect(storedObs.subject.reference).toBe(`Patient/${patientId}`);
    expect(storedObs.derivedFrom[0].reference).toBe(`Patient/${patientId}/_history/1`);
    expect(storedObs.text.div).toContain(`href="Patient/${patientId}"`);
    const storedPatient = (await fhir(server, 'GET', `Patient/${patientId}`)).body;
    expect(storedPatient.extension[0].valueUri).toBe(`Patient/${patientId}`);
    // References to resources outside the bundle are left alone.
    expect(storedPatient.link[0].other.reference).toBe(OBS_URN.replace('2', '3'));
    expect((await fhir(server, 'GET', 'Patient/tx-client-id')).body.active).toBe(true);
    expect((await fhir(server, 'GET', `Patient/${existing}`)).status).toBe(410);
  });

  it('fails as a whole when a read in it fails', async () => {
    const before = await tableCounts(server.pool);
    const res = await fhir(
      server,
      'POST',
      '',
      transaction([
        { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/no-such-patient' } },
      ]),
    );
    expect(res.status).toBe(404);
    expect(await tableCounts(server.pool)).toEqual(before);
  });

  it('rewrites urn:oid placeholders and absolute fullUrls (also in their relative form)', async () => {
    const res = await fhir(
      server,
      'POST',
      '',
      transaction([
        {
          fullUrl: 'urn:oid:1.2.840.99999.1',
          resource: { resourceType: 'Patient' },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: 'http://example.org/fhir/Patient/old-id',
          resource: { resourceType: 'Patient' },
          request: { method: 'POST', url: 'Patient' },
        },
        { resource: observation('urn:oid:1.2.840.99999.1'), request: { method: 'POST', url: 'Observation' } },
        {
          resource: observation('http://example.org/fhir/Patient/old-id'),
          request: { method: 'POST', url: 'Observation' },
        },
        { resource: observation('Patient/old-id'), request: { method: 'POST', url: 'Observation' } },
      ]),
    );
    expect(res.status).toBe(200);
    const [oid, absolute, o1, o2, o3] = res.body.entry;
    expect(o1.resource.subject.reference).toBe(`Patient/${oid.resource.id}`);
    expect(o2.resource.subject.reference).toBe(`Patient/${absolute.resource.id}`);
    expect(o3.resource.subject.reference).toBe(`Patient/${absolute.resource.id}`);
  });

  it('processes DELETE, POST, PUT/PATCH, then GET whatever the entry order', async () => {
    const id = await createPatient();
    const res = await fhir(
      server,
      'POST',
      '',
      transaction([
        { request: { method: 'GET', url: `Patient/${id}` } },
        {
          resource: { resourceType: 'Patient', id, gender: 'other' },
          request: { method: 'PUT', url: `Patient/${id}` },
        },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body.entry[0].resource.gender).toBe('other');
    expect(res.body.entry[0].resource.meta.versionId).toBe('2');
  });

  it('changes nothing when one entry is invalid, and names that entry', async () => {
    await createPatient();
    const before = await tableCounts(server.pool);
    const res = await fhir(
      server,
      'POST',
      '',
      transaction([
        { fullUrl: PATIENT_URN, resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { resource: observation(PATIENT_URN), request: { method: 'POST', url: 'Observation' } },
        {
          resource: { resourceType: 'Observation', code: { text: 'no status' } },
          request: { method: 'POST', url: 'Observation' },
        },
        {
          resource: { resourceType: 'Patient', id: 'never-created' },
          request: { method: 'PUT', url: 'Patient/never-created' },
        },
      ]),
    );
    expect([400, 422]).toContain(res.status);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].expression[0]).toBe('Bundle.entry[2]');
    expect(res.body.issue[0].diagnostics).toContain('Bundle.entry[2]');
    expect(await tableCounts(server.pool)).toEqual(before);
    expect((await fhir(server, 'GET', 'Patient/never-created')).status).toBe(404);
  });

  it('fails as a whole on a version conflict (request.ifMatch)', async () => {
    const id = await createPatient();
    const before = await tableCounts(server.pool);
    const res = await fhir(
      server,
      'POST',
      '',
      transaction([
        { resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'Patient', id, active: false },
          request: { method: 'PUT', url: `Patient/${id}`, ifMatch: 'W/"9"' },
        },
      ]),
    );
    expect(res.status).toBe(412);
    expect(await tableCounts(server.pool)).toEqual(before);
    const ok = await fhir(
      server,
      'POST',
      '',
      transaction([
        {
          resource: { resourceType: 'Patient', id, active: false },
          request: { method: 'PUT', url: `Patient/${id}`, ifMatch: 'W/"1"' },
        },
      ]),
    );
    expect(ok.status).toBe(200);
    expect(ok.body.entry[0].response.etag).toBe('W/"2"');
  });

  it('conditional create (ifNoneExist) reuses a match, and references to its fullUrl point to it', async () => {
    const system = 'urn:test:tx-cond';
    const existing = await createPatient({ system, value: 'known' });
    const res = await fhir(
      server,
      'POST',
      '',
      transaction([
        {
          fullUrl: PATIENT_URN,
          resource: { resourceType: 'Patient', identifier: [{ system, value: 'known' }] },
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${system}|known` },
        },
        {
          fullUrl: 'urn:uuid:6f1c7c10-0000-4000-8000-00000000000a',
          resource: { resourceType: 'Patient', identifier: [{ system, value: 'new' }] },
          request: { method: 'POST', url: 'Patient', ifNoneExist: `Patient?identifier=${system}|new` },
        },
        { resource: observation(PATIENT_URN), request: { method: 'POST', url: 'Observation' } },
        {
          resource: observation('urn:uuid:6f1c7c10-0000-4000-8000-00000000000a'),
          request: { method: 'POST', url: 'Observation' },
        },
      ]),
    );
    expect(res.status).toBe(200);
    const [known, created, obs1, obs2] = res.body.entry;
    expect(known.response.status).toBe('200 OK');
    expect(known.resource.id).toBe(existing);
    expect(created.response.status).toBe('201 Created');
    expect(obs1.resource.subject.reference).toBe(`Patient/${existing}`);
    expect(obs2.resource.subject.reference).toBe(`Patient/${created.resource.id}`);
  });

  it('resolves conditional references; no match → 400, several → 412', async () => {
    const system = 'urn:test:tx-condref';
    const target = await createPatient({ system, value: 'one' });
    await createPatient({ system, value: 'twin' });
    await createPatient({ system, value: 'twin' });
    const post = (ref: string) =>
      fhir(
        server,
        'POST',
        '',
        transaction([{ resource: observation(ref), request: { method: 'POST', url: 'Observation' } }]),
      );
    const ok = await post(`Patient?identifier=${system}|one`);
    expect(ok.status).toBe(200);
    expect(ok.body.entry[0].resource.subject.reference).toBe(`Patient/${target}`);
    const none = await post(`Patient?identifier=${system}|nobody`);
    expect(none.status).toBe(400);
    expect(none.body.issue[0].diagnostics).toContain('matches no resource');
    const several = await post(`Patient?identifier=${system}|twin`);
    expect(several.status).toBe(412);
  });

  it('runs conditional update and conditional delete entries', async () => {
    const system = 'urn:test:tx-condwrite';
    const updated = await createPatient({ system, value: 'upd' });
    const deleted = await createPatient({ system, value: 'del' });
    const res = await fhir(
      server,
      'POST',
      '',
      transaction([
        {
          resource: { resourceType: 'Patient', identifier: [{ system, value: 'upd' }], active: true },
          request: { method: 'PUT', url: `Patient?identifier=${system}|upd` },
        },
        { request: { method: 'DELETE', url: `Patient?identifier=${system}|del` } },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('200 OK');
    expect(res.body.entry[0].resource.id).toBe(updated);
    expect(res.body.entry[1].response.status).toBe('200 OK');
    expect((await fhir(server, 'GET', `Patient/${updated}`)).body.active).toBe(true);
    expect((await fhir(server, 'GET', `Patient/${deleted}`)).status).toBe(410);
  });

  it('applies PATCH entries: FHIRPath Patch Parameters and JSON Patch in a Binary', async () => {
    const a = await createPatient();
    const b = await createPatient();
    const jsonPatch = Buffer.from(JSON.stringify([{ op: 'add', path: '/gender', value: 'female' }])).toString('base64');
    const res = await fhir(
      server,
      'POST',
      '',
      transaction([
        {
          resource: {
            resourceType: 'Parameters',
            parameter: [
              {
                name: 'operation',
                part: [
                  { name: 'type', valueCode: 'add' },
                  { name: 'path', valueString: 'Patient' },
                  { name: 'name', valueString: 'active' },
                  { name: 'value', valueBoolean: true },
                ],
              },
            ],
          },
          request: { method: 'PATCH', url: `Patient/${a}` },
        },
        {
          resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: jsonPatch },
          request: { method: 'PATCH', url: `Patient/${b}` },
        },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: any) => e.response.status)).toEqual(['200 OK', '200 OK']);
    expect((await fhir(server, 'GET', `Patient/${a}`)).body.active).toBe(true);
    expect((await fhir(server, 'GET', `Patient/${b}`)).body.gender).toBe('female');
    const history = await fhir(server, 'GET', `Patient/${b}/_history`);
    expect(history.body.entry[0].request.method).toBe('PATCH');
  });

  it('refuses a resource changed twice and duplicate fullUrls with 400', async () => {
    const id = await createPatient();
    const twice = await fhir(
      server,
      'POST',
      '',
      transaction([
        { resource: { resourceType: 'Patient', id, active: true }, request: { method: 'PUT', url: `Patient/${id}` } },
        { request: { method: 'DELETE', url: `Patient/${id}` } },
      ]),
    );
    expect(twice.status).toBe(400);
    const dupUrl = await fhir(
      server,
      'POST',
      '',
      transaction([
        { fullUrl: PATIENT_URN, resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { fullUrl: PATIENT_URN, resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
      ]),
    );
    expect(dupUrl.status).toBe(400);
  });

  it('honours Prefer for the entries of writes', async () => {
    const entries = [{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }];
    const minimal = await fhir(server, 'POST', '', transaction(entries), { prefer: 'return=minimal' });
    expect(minimal.status).toBe(200);
    expect(minimal.body.entry[0].resource).toBeUndefined();
    expect(minimal.body.entry[0].response.location).toMatch(/^Patient\/[^/]+\/_history\/1$/);
    const oo = await fhir(server, 'POST', '', transaction(entries), { prefer: 'return=OperationOutcome' });
    expect(oo.body.entry[0].resource).toBeUndefined();
    expect(oo.body.entry[0].response.outcome.resourceType).toBe('OperationOutcome');
    const representation = await fhir(server, 'POST', '', transaction(entries), { prefer: 'return=representation' });
    expect(representation.body.entry[0].resource.resourceType).toBe('Patient');
  });

  it('refuses what is not a batch or transaction with 400', async () => {
    expect((await fhir(server, 'POST', '', { resourceType: 'Bundle', type: 'collection', entry: [] })).status).toBe(
      400,
    );
    expect((await fhir(server, 'POST', '', { resourceType: 'Patient' })).status).toBe(400);
    const noMethod = await fhir(
      server,
      'POST',
      '',
      transaction([{ resource: { resourceType: 'Patient' }, request: { url: 'Patient' } }]),
    );
    expect(noMethod.status).toBe(400);
    expect(noMethod.body.issue[0].expression).toEqual(['Bundle.entry[0].request.method']);
    const badHeader = await fhir(
      server,
      'POST',
      '',
      transaction([{ request: { method: 'GET', url: 'Patient/x', ifNoneMatch: 3 } }]),
    );
    expect(badHeader.status).toBe(400);
    expect((await fhir(server, 'POST', '', transaction([null]))).status).toBe(400);
    const nested = await fhir(
      server,
      'POST',
      '',
      transaction([{ resource: transaction([]), request: { method: 'POST', url: '' } }]),
    );
    expect(nested.status).toBe(400);
    const empty = await fhir(server, 'POST', '', transaction([]));
    expect(empty.status).toBe(200);
    expect(empty.body.type).toBe('transaction-response');
  });
});
