import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, launchToken, oidcClient, startAuthServer } from '../../test/auth-helpers.ts';

/**
 * Issue 13 item 5: a compartment-confined token must get the same answer for an id that exists outside what it may
 * see as for an id that does not exist (status and OperationOutcome), and `_total=estimate` must not reveal how much
 * of the table it cannot see.
 */

const REDIRECT = 'http://127.0.0.1:9/callback';
let server: Tributary;
let admin: string;
let own: string;
let other: string;
const tokens: Record<string, string> = {};

const as = (token: string) => ({ authorization: `Bearer ${token}` });
const CODE = { coding: [{ system: 'urn:oracle', code: 'x' }] };
const observation = (patient: string, code = CODE) => ({
  resourceType: 'Observation',
  status: 'final',
  code,
  subject: { reference: `Patient/${patient}` },
});

async function adminCreate(resource: Record<string, any>): Promise<any> {
  const res = await fhir(server, 'POST', resource.resourceType, resource, as(admin));
  expect(res.status).toBe(201);
  return res.body;
}

beforeAll(async () => {
  server = await startAuthServer();
  admin = await adminToken(server);
  own = (await adminCreate({ resourceType: 'Patient' })).id;
  other = (await adminCreate({ resourceType: 'Patient' })).id;
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'doc',
    password: 'doc password',
    role: 'practitioner',
  });
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'pat',
    password: 'pat password',
    role: 'patient',
    fhirUser: `Patient/${own}`,
    patient: own,
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'eo-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
  const app = await oidcClient(server, 'eo-app', client.None());
  const doc = { username: 'doc', password: 'doc password' };
  tokens['patient/*.cruds'] = await launchToken(server, admin, app, REDIRECT, 'launch patient/*.cruds', doc, own);
  tokens['user/*.cruds (patient user)'] = await launchToken(server, admin, app, REDIRECT, 'user/*.cruds', {
    username: 'pat',
    password: 'pat password',
  });
  tokens['user/*.cruds (practitioner)'] = await launchToken(server, admin, app, REDIRECT, 'user/*.cruds', doc);
}, 120_000);
afterAll(async () => {
  await server?.close();
});

/** By-id requests a confined token may make about an id, each as [label, method, path, body, headers]. */
function probes(type: string, id: string): [string, string, string, unknown?, Record<string, string>?][] {
  const body = { ...observation(own), id };
  const patch = { 'content-type': 'application/json-patch+json' };
  return [
    ['read', 'GET', `${type}/${id}`],
    ['vread', 'GET', `${type}/${id}/_history/1`],
    ['history', 'GET', `${type}/${id}/_history`],
    ['update', 'PUT', `${type}/${id}`, body],
    ['update If-Match', 'PUT', `${type}/${id}`, body, { 'if-match': 'W/"1"' }],
    ['patch', 'PATCH', `${type}/${id}`, [{ op: 'add', path: '/language', value: 'en' }], patch],
    ['delete', 'DELETE', `${type}/${id}`],
    ['conditional update naming the id', 'PUT', `${type}?identifier=urn:oracle|${randomUUID()}`, body],
    ['$validate', 'GET', `${type}/${id}/$validate`],
    ['$validate mode=delete', 'GET', `${type}/${id}/$validate?mode=delete`],
    ['$validate mode=delete (POST)', 'POST', `${type}/${id}/$validate?mode=delete`],
    ['$validate mode=update', 'POST', `${type}/${id}/$validate?mode=update`, body],
    [
      'transaction update',
      'POST',
      '',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: body, request: { method: 'PUT', url: `${type}/${id}` } }],
      },
    ],
  ];
}

/** An answer with the probed id taken out, so answers about two ids can be compared. */
async function answer(token: string, probe: ReturnType<typeof probes>[number], id: string) {
  const [, method, path, body, headers] = probe;
  const res = await fhir(server, method, path, body, { ...as(token), ...headers });
  return { status: res.status, body: JSON.parse(JSON.stringify(res.body).replaceAll(id, '<id>')) };
}

describe('hidden and absent ids', () => {
  it('get the same answer from a confined token, whatever the interaction', async () => {
    const hidden = (await adminCreate(observation(other))).id;
    const deleted = (await adminCreate(observation(other))).id;
    await fhir(server, 'DELETE', `Observation/${deleted}`, undefined, as(admin));
    for (const name of ['patient/*.cruds', 'user/*.cruds (patient user)']) {
      for (const secret of [hidden, deleted]) {
        const absent = randomUUID();
        const hiddenProbes = probes('Observation', secret);
        const absentProbes = probes('Observation', absent);
        for (const [i, probe] of hiddenProbes.entries()) {
          const seen = await answer(tokens[name], probe, secret);
          const unknown = await answer(tokens[name], absentProbes[i], absent);
          expect({ name, probe: probe[0], ...seen }).toEqual({ name, probe: probe[0], ...unknown });
          // the patient user's role may not delete at all (403 for any id); everything else is "not known"
          const refusal = name.includes('patient user') && probe[0] === 'delete' ? 403 : 404;
          expect([name, probe[0], seen.status]).toEqual([name, probe[0], refusal]);
        }
      }
      // nothing was written to the hidden resource, and nothing created under the absent ids
      expect((await fhir(server, 'GET', `Observation/${hidden}`, undefined, as(admin))).body.meta.versionId).toBe('1');
    }
  });

  it('answers 404 to a confined update of an unknown id (no update-as-create), as Medplum does', async () => {
    const absent = randomUUID();
    const res = await fhir(
      server,
      'PUT',
      `Observation/${absent}`,
      { ...observation(own), id: absent },
      as(tokens['patient/*.cruds']),
    );
    expect([res.status, res.body.issue[0].code]).toEqual([404, 'not-found']);
    expect((await fhir(server, 'GET', `Observation/${absent}`, undefined, as(admin))).status).toBe(404);
  });

  it('still lets a confined token update its own resources, and an unconfined one create by update', async () => {
    const mine = await adminCreate(observation(own));
    expect(
      (await fhir(server, 'PUT', `Observation/${mine.id}`, { ...mine, language: 'en' }, as(tokens['patient/*.cruds'])))
        .status,
    ).toBe(200);
    const fresh = randomUUID();
    expect(
      (
        await fhir(
          server,
          'PUT',
          `Observation/${fresh}`,
          { ...observation(other), id: fresh },
          as(tokens['user/*.cruds (practitioner)']),
        )
      ).status,
    ).toBe(201);
  });
});

describe('_total=estimate', () => {
  it('counts exactly what a confined token may see, not the planner’s estimate over the whole table', async () => {
    const code = { coding: [{ system: 'urn:oracle', code: `estimate-${randomUUID()}` }] };
    const entry = (patient: string) => ({
      resource: observation(patient, code),
      request: { method: 'POST', url: 'Observation' },
    });
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [...Array(300)].map(() => entry(other)).concat([entry(own), entry(own), entry(own)]),
    };
    expect((await fhir(server, 'POST', '', bundle, as(admin))).status).toBe(200);
    for (const name of ['patient/*.cruds', 'user/*.cruds (patient user)']) {
      const res = await fhir(server, 'GET', 'Observation?_total=estimate&_count=1', undefined, as(tokens[name]));
      const accurate = await fhir(server, 'GET', 'Observation?_total=accurate&_count=1', undefined, as(tokens[name]));
      expect([name, res.body.total]).toEqual([name, accurate.body.total]);
      const coded = await fhir(
        server,
        'GET',
        `Observation?code=${code.coding[0].system}|${code.coding[0].code}&_total=estimate&_count=1`,
        undefined,
        as(tokens[name]),
      );
      expect([name, coded.body.total]).toEqual([name, 3]);
    }
  });
});
