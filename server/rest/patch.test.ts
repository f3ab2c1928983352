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

const JSON_PATCH = { 'content-type': 'application/json-patch+json' };

async function createPatient(extra: Record<string, unknown> = {}): Promise<string> {
  const res = await fhir(server, 'POST', 'Patient', {
    resourceType: 'Patient',
    name: [{ family: 'Patch', given: ['Ann', 'Beth', 'Cat'] }],
    telecom: [{ system: 'phone', value: '555-0100' }],
    ...extra,
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

function op(type: string, path: string, parts: Record<string, unknown>[] = []) {
  return {
    name: 'operation',
    part: [{ name: 'type', valueCode: type }, { name: 'path', valueString: path }, ...parts],
  };
}

describe('PATCH with JSON Patch', () => {
  it('applies the operations, stores a new version with method PATCH and answers like an update', async () => {
    const id = await createPatient();
    const res = await fhir(
      server,
      'PATCH',
      `Patient/${id}`,
      [
        { op: 'replace', path: '/name/0/family', value: 'Patched' },
        { op: 'add', path: '/gender', value: 'female' },
        { op: 'remove', path: '/telecom' },
      ],
      JSON_PATCH,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('W/"2"');
    expect(res.headers.get('location')).toBe(`${server.fhirBase}/Patient/${id}/_history/2`);
    expect(res.headers.get('content-location')).toBe(`${server.fhirBase}/Patient/${id}/_history/2`);
    expect(res.headers.get('last-modified')).toBeTruthy();
    expect(res.body.name[0].family).toBe('Patched');
    expect(res.body.gender).toBe('female');
    expect(res.body.telecom).toBeUndefined();

    const read = await fhir(server, 'GET', `Patient/${id}`);
    expect(read.body.meta.versionId).toBe('2');
    expect(read.body.gender).toBe('female');
    const history = await fhir(server, 'GET', `Patient/${id}/_history`);
    expect(history.body.entry.map((e: any) => e.request.method)).toEqual(['PATCH', 'POST']);
  });

  it('honours If-Match: a stale version is 412 and changes nothing', async () => {
    const id = await createPatient();
    const patch = [{ op: 'add', path: '/gender', value: 'male' }];
    const stale = await fhir(server, 'PATCH', `Patient/${id}`, patch, { ...JSON_PATCH, 'if-match': 'W/"7"' });
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    expect((await fhir(server, 'GET', `Patient/${id}`)).body.meta.versionId).toBe('1');
    const ok = await fhir(server, 'PATCH', `Patient/${id}`, patch, { ...JSON_PATCH, 'if-match': 'W/"1"' });
    expect(ok.status).toBe(200);
    expect(ok.body.gender).toBe('male');
  });

  it('refuses malformed patch documents with 400 and inapplicable ones with 422, leaving the resource alone', async () => {
    const id = await createPatient();
    const cases: [unknown, number][] = [
      [{ op: 'add', path: '/gender', value: 'male' }, 400], // not an array
      [[{ op: 'frobnicate', path: '/gender' }], 400],
      [[{ op: 'add', path: 'gender', value: 'x' }], 400], // not a JSON Pointer
      [[{ op: 'add', path: '/__proto__/polluted', value: true }], 400],
      [[{ op: 'replace', path: '/birthDate', value: '2000-01-01' }], 422], // target missing
      [
        [
          { op: 'test', path: '/name/0/family', value: 'Other' },
          { op: 'add', path: '/gender', value: 'male' },
        ],
        422,
      ],
      [[{ op: 'replace', path: '/id', value: 'another-id' }], 422],
      [[{ op: 'replace', path: '/resourceType', value: 'Observation' }], 422],
    ];
    for (const [body, status] of cases) {
      const res = await fhir(server, 'PATCH', `Patient/${id}`, body, JSON_PATCH);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].diagnostics).toBeTruthy();
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const read = await fhir(server, 'GET', `Patient/${id}`);
    expect(read.body.meta.versionId).toBe('1');
    expect(read.body.gender).toBeUndefined();
  });

  it('validates the patched result like any write', async () => {
    const id = await createPatient();
    const res = await fhir(
      server,
      'PATCH',
      `Patient/${id}`,
      [{ op: 'add', path: '/birthDate', value: '31/12/2000' }],
      JSON_PATCH,
    );
    expect([400, 422]).toContain(res.status);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect((await fhir(server, 'GET', `Patient/${id}`)).body.meta.versionId).toBe('1');
  });

  it('answers 404 for an unknown resource, 410 for a deleted one, 415 for other content types', async () => {
    const patch = [{ op: 'add', path: '/gender', value: 'male' }];
    expect((await fhir(server, 'PATCH', 'Patient/does-not-exist', patch, JSON_PATCH)).status).toBe(404);
    const id = await createPatient();
    expect((await fhir(server, 'DELETE', `Patient/${id}`)).status).toBe(200);
    expect((await fhir(server, 'PATCH', `Patient/${id}`, patch, JSON_PATCH)).status).toBe(410);
    const other = await fhir(server, 'PATCH', `Patient/${id}`, 'gender=male', { 'content-type': 'text/plain' });
    expect(other.status).toBe(415);
  });
});

describe('PATCH with FHIRPath Patch', () => {
  it('applies add, insert, replace, move and delete in order', async () => {
    const id = await createPatient({ contact: [{ name: { text: 'Kin' }, gender: 'male' }] });
    const patch = {
      resourceType: 'Parameters',
      parameter: [
        op('add', 'Patient', [
          { name: 'name', valueString: 'birthDate' },
          { name: 'value', valueDate: '1990-02-03' },
        ]),
        op('insert', 'Patient.name[0].given', [
          { name: 'index', valueInteger: 1 },
          { name: 'value', valueString: 'Zed' },
        ]),
        op('replace', 'Patient.name[0].family', [{ name: 'value', valueString: 'Pathed' }]),
        op('move', 'Patient.name[0].given', [
          { name: 'source', valueInteger: 0 },
          { name: 'destination', valueInteger: 3 },
        ]),
        op('delete', 'Patient.contact[0]'),
        op('delete', "Patient.telecom.where(system = 'phone')"),
        op('add', 'Patient', [
          { name: 'name', valueString: 'identifier' },
          { name: 'value', valueIdentifier: { system: 'urn:s', value: 'v1' } },
        ]),
      ],
    };
    const res = await fhir(server, 'PATCH', `Patient/${id}`, patch);
    expect(res.status).toBe(200);
    expect(res.body.birthDate).toBe('1990-02-03');
    expect(res.body.name[0].family).toBe('Pathed');
    expect(res.body.name[0].given).toEqual(['Zed', 'Beth', 'Cat', 'Ann']);
    // Deleting the only item removes the element; FHIR JSON has no empty arrays.
    expect(res.body).not.toHaveProperty('contact');
    expect(res.body).not.toHaveProperty('telecom');
    expect(res.body.identifier).toEqual([{ system: 'urn:s', value: 'v1' }]);
    const history = await fhir(server, 'GET', `Patient/${id}/_history/2`);
    expect(history.body.name[0].given).toEqual(['Zed', 'Beth', 'Cat', 'Ann']);
  });

  it('builds values given as nested parts (a BackboneElement)', async () => {
    const id = await createPatient();
    const patch = {
      resourceType: 'Parameters',
      parameter: [
        op('add', 'Patient', [
          { name: 'name', valueString: 'contact' },
          {
            name: 'value',
            part: [
              { name: 'name', valueHumanName: { text: 'Next Of Kin' } },
              { name: 'telecom', valueContactPoint: { system: 'phone', value: '1' } },
              { name: 'telecom', valueContactPoint: { system: 'email', value: 'a@b.c' } },
            ],
          },
        ]),
      ],
    };
    const res = await fhir(server, 'PATCH', `Patient/${id}`, patch);
    expect(res.status).toBe(200);
    expect(res.body.contact).toEqual([
      {
        name: { text: 'Next Of Kin' },
        telecom: [
          { system: 'phone', value: '1' },
          { system: 'email', value: 'a@b.c' },
        ],
      },
    ]);
  });

  it('refuses bad operations with 400 and inapplicable ones with 422', async () => {
    const id = await createPatient();
    const cases: [unknown, number][] = [
      [{ resourceType: 'Patient' }, 400],
      [{ resourceType: 'Parameters', parameter: [op('explode', 'Patient')] }, 400],
      [
        {
          resourceType: 'Parameters',
          parameter: [
            op('add', 'Patient', [
              { name: 'name', valueString: '__proto__' },
              { name: 'value', valueBoolean: true },
            ]),
          ],
        },
        400,
      ],
      [
        {
          resourceType: 'Parameters',
          parameter: [op('insert', 'Patient.name[0].given', [{ name: 'value', valueString: 'x' }])],
        },
        400,
      ],
      [
        {
          resourceType: 'Parameters',
          parameter: [op('replace', 'Patient.name[0].family((', [{ name: 'value', valueString: 'x' }])],
        },
        400,
      ],
      [
        {
          resourceType: 'Parameters',
          parameter: [op('replace', 'Patient.name.given', [{ name: 'value', valueString: 'x' }])],
        },
        422,
      ],
      [
        {
          resourceType: 'Parameters',
          parameter: [op('replace', 'Patient.birthDate', [{ name: 'value', valueDate: '2000-01-01' }])],
        },
        422,
      ],
      [
        { resourceType: 'Parameters', parameter: [op('replace', 'Patient.id', [{ name: 'value', valueId: 'other' }])] },
        422,
      ],
    ];
    for (const [body, status] of cases) {
      const res = await fhir(server, 'PATCH', `Patient/${id}`, body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    expect((await fhir(server, 'GET', `Patient/${id}`)).body.meta.versionId).toBe('1');
  });
});

describe('conditional PATCH', () => {
  it('patches the single match, 404 with none, 412 with several', async () => {
    const system = 'urn:test:patch';
    const id = await createPatient({ identifier: [{ system, value: 'one' }] });
    await createPatient({ identifier: [{ system, value: 'twin' }] });
    await createPatient({ identifier: [{ system, value: 'twin' }] });
    const patch = [{ op: 'add', path: '/active', value: true }];
    const one = await fhir(server, 'PATCH', `Patient?identifier=${system}|one`, patch, JSON_PATCH);
    expect(one.status).toBe(200);
    expect(one.body.id).toBe(id);
    expect(one.body.active).toBe(true);
    expect((await fhir(server, 'PATCH', `Patient?identifier=${system}|none`, patch, JSON_PATCH)).status).toBe(404);
    expect((await fhir(server, 'PATCH', `Patient?identifier=${system}|twin`, patch, JSON_PATCH)).status).toBe(412);
  });
});

describe('Prefer on PATCH', () => {
  it('returns no body for return=minimal and an OperationOutcome for return=OperationOutcome', async () => {
    const id = await createPatient();
    const minimal = await fhir(server, 'PATCH', `Patient/${id}`, [{ op: 'add', path: '/active', value: true }], {
      ...JSON_PATCH,
      prefer: 'return=minimal',
    });
    expect(minimal.status).toBe(200);
    expect(minimal.body).toBe('');
    expect(minimal.headers.get('etag')).toBe('W/"2"');
    const oo = await fhir(server, 'PATCH', `Patient/${id}`, [{ op: 'add', path: '/active', value: false }], {
      ...JSON_PATCH,
      prefer: 'return=OperationOutcome',
    });
    expect(oo.status).toBe(200);
    expect(oo.body.resourceType).toBe('OperationOutcome');
    expect(oo.headers.get('etag')).toBe('W/"3"');
  });
});
