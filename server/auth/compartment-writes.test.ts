import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, launchToken, oidcClient, startAuthServer } from '../../test/auth-helpers.ts';

/**
 * Issue 13 item 1: a write under a compartment-confined token must leave the resource in the token's patient's
 * compartment alone, by the compartment's own parameters. The probes are the outside probe's: a patient app wrote
 * resources naming another patient as subject/patient and its own patient in some other compartment parameter.
 */

const REDIRECT = 'http://127.0.0.1:9/callback';
let server: Tributary;
let admin: string;
let own: string;
let other: string;
const tokens: Record<string, string> = {};

const JSON_PATCH = { 'content-type': 'application/json-patch+json' };
const as = (token: string) => ({ authorization: `Bearer ${token}` });
const ref = (patient: string) => ({ reference: `Patient/${patient}` });
const identifier = (marker: string) => [{ system: 'urn:probe', value: marker }];

/** The outside probe's resources: the other patient by subject/patient, the own patient by another parameter. */
function crossPatient(marker: string, subject: string, actor: string): Record<string, any>[] {
  const code = { coding: [{ system: 'urn:probe', code: 'x' }] };
  return [
    {
      resourceType: 'Observation',
      identifier: identifier(marker),
      status: 'final',
      code,
      subject: ref(subject),
      performer: [ref(actor)],
    },
    {
      resourceType: 'AllergyIntolerance',
      identifier: identifier(marker),
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }],
      },
      patient: ref(subject),
      asserter: ref(actor),
    },
    { resourceType: 'Condition', identifier: identifier(marker), subject: ref(subject), asserter: ref(actor) },
    {
      resourceType: 'Communication',
      identifier: identifier(marker),
      status: 'completed',
      subject: ref(subject),
      sender: ref(actor),
    },
    {
      resourceType: 'DocumentReference',
      identifier: identifier(marker),
      status: 'current',
      subject: ref(subject),
      author: [ref(actor)],
      content: [{ attachment: { contentType: 'text/plain', data: 'aGk=' } }],
    },
  ];
}

/** How many resources of the type carry the marker (as the admin sees it). */
async function written(type: string, marker: string): Promise<number> {
  return (await fhir(server, 'GET', `${type}?identifier=urn:probe|${marker}&_total=accurate`, undefined, as(admin)))
    .body.total;
}

/** Creates a resource as the admin. */
async function adminCreate(resource: Record<string, any>): Promise<any> {
  const res = await fhir(server, 'POST', resource.resourceType, resource, as(admin));
  expect(res.status).toBe(201);
  return res.body;
}

function observation(marker: string, subject: string, performers: string[] = []) {
  const code = { coding: [{ system: 'urn:probe', code: 'x' }] };
  const resource: Record<string, any> = {
    resourceType: 'Observation',
    identifier: identifier(marker),
    status: 'final',
    code,
    subject: ref(subject),
  };
  if (performers.length > 0) resource.performer = performers.map(ref);
  return resource;
}

beforeAll(async () => {
  server = await startAuthServer();
  admin = await adminToken(server);
  own = (await adminCreate({ resourceType: 'Patient', name: [{ family: 'Own' }] })).id;
  other = (await adminCreate({ resourceType: 'Patient', name: [{ family: 'Other' }] })).id;
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'doc',
    password: 'doc password',
    role: 'practitioner',
    fhirUser: 'Practitioner/doc',
  });
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'pat',
    password: 'pat password',
    role: 'patient',
    fhirUser: `Patient/${own}`,
    patient: own,
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'cw-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
  const app = await oidcClient(server, 'cw-app', client.None());
  const doc = { username: 'doc', password: 'doc password', patient: own };
  tokens.ehr = await launchToken(server, admin, app, REDIRECT, 'launch patient/*.cruds', doc, own);
  tokens.standalone = await launchToken(server, admin, app, REDIRECT, 'launch/patient patient/*.cruds', doc);
  tokens.patientUser = await launchToken(server, admin, app, REDIRECT, 'user/*.cruds', {
    username: 'pat',
    password: 'pat password',
  });
  tokens.practitioner = await launchToken(server, admin, app, REDIRECT, 'user/*.cruds', doc);
}, 120_000);
afterAll(async () => {
  await server?.close();
});

describe('creates under a compartment-confined token', () => {
  it('refuses resources naming another patient in any compartment parameter (403, nothing written)', async () => {
    const everything = async () =>
      (await fhir(server, 'GET', `Patient/${other}/$everything?_count=1000`, undefined, as(admin))).body.entry.length;
    const before = await everything();
    for (const name of ['ehr', 'standalone', 'patientUser']) {
      for (const [subject, actor] of [
        [other, own],
        [own, other],
      ]) {
        const marker = randomUUID();
        for (const resource of crossPatient(marker, subject, actor)) {
          const res = await fhir(server, 'POST', resource.resourceType, resource, as(tokens[name]));
          expect([name, resource.resourceType, res.status, res.body.resourceType]).toEqual([
            name,
            resource.resourceType,
            403,
            'OperationOutcome',
          ]);
          expect(await written(resource.resourceType, marker)).toBe(0);
        }
      }
    }
    expect(await everything()).toBe(before);
  });

  it('creates them when every compartment reference is the own patient, and leaves unconfined tokens alone', async () => {
    const marker = randomUUID();
    for (const resource of crossPatient(marker, own, own)) {
      const res = await fhir(server, 'POST', resource.resourceType, resource, as(tokens.ehr));
      expect([resource.resourceType, res.status]).toEqual([resource.resourceType, 201]);
    }
    const crossing = randomUUID();
    for (const resource of crossPatient(crossing, other, own)) {
      const res = await fhir(server, 'POST', resource.resourceType, resource, as(tokens.practitioner));
      expect([resource.resourceType, res.status]).toEqual([resource.resourceType, 201]);
    }
  });

  it('refuses another patient inside a contained resource', async () => {
    const marker = randomUUID();
    const contained = { ...observation(`${marker}-inner`, other), id: 'inner' };
    const res = await fhir(
      server,
      'POST',
      'Observation',
      { ...observation(marker, own), contained: [contained], hasMember: [{ reference: '#inner' }] },
      as(tokens.ehr),
    );
    expect(res.status).toBe(403);
    expect(await written('Observation', marker)).toBe(0);
  });

  it('refuses a new Patient, even one linked to the own patient', async () => {
    const res = await fhir(
      server,
      'POST',
      'Patient',
      { resourceType: 'Patient', link: [{ other: ref(own), type: 'seealso' }] },
      as(tokens.ehr),
    );
    expect(res.status).toBe(403);
  });

  it('refuses conditional creates (If-None-Exist, conditional update without a match) naming another patient', async () => {
    const marker = randomUUID();
    const probe = observation(marker, other, [own]);
    expect(
      (
        await fhir(server, 'POST', 'Observation', probe, {
          ...as(tokens.ehr),
          'if-none-exist': `identifier=urn:probe|${marker}`,
        })
      ).status,
    ).toBe(403);
    expect(
      (await fhir(server, 'PUT', `Observation?identifier=urn:probe|${marker}`, probe, as(tokens.ehr))).status,
    ).toBe(403);
    expect(await written('Observation', marker)).toBe(0);
  });
});

describe('updates, patches and deletes under a compartment-confined token', () => {
  it('refuses an update, patch, conditional update or conditional patch that adds another patient', async () => {
    const marker = randomUUID();
    const current = await adminCreate(observation(marker, own));
    const crossing = { ...current, performer: [ref(other)] };
    const add = [{ op: 'add', path: '/performer', value: [ref(other)] }];
    const byMarker = `Observation?identifier=urn:probe|${marker}`;
    expect((await fhir(server, 'PUT', `Observation/${current.id}`, crossing, as(tokens.ehr))).status).toBe(403);
    expect(
      (await fhir(server, 'PATCH', `Observation/${current.id}`, add, { ...as(tokens.ehr), ...JSON_PATCH })).status,
    ).toBe(403);
    expect((await fhir(server, 'PUT', byMarker, crossing, as(tokens.ehr))).status).toBe(403);
    expect((await fhir(server, 'PATCH', byMarker, add, { ...as(tokens.ehr), ...JSON_PATCH })).status).toBe(403);
    const stored = await fhir(server, 'GET', `Observation/${current.id}`, undefined, as(admin));
    expect([stored.body.meta.versionId, stored.body.performer]).toEqual(['1', undefined]);
    // the same update without the other patient goes through
    expect(
      (await fhir(server, 'PUT', `Observation/${current.id}`, { ...current, performer: [ref(own)] }, as(tokens.ehr)))
        .status,
    ).toBe(200);
  });

  it('refuses to change or delete a resource that is also in another patient’s compartment, though it may read it', async () => {
    const marker = randomUUID();
    const shared = await adminCreate(observation(marker, own, [other]));
    expect((await fhir(server, 'GET', `Observation/${shared.id}`, undefined, as(tokens.ehr))).status).toBe(200);
    const withoutOther = { ...shared, performer: [ref(own)] };
    expect((await fhir(server, 'PUT', `Observation/${shared.id}`, withoutOther, as(tokens.ehr))).status).toBe(403);
    expect((await fhir(server, 'DELETE', `Observation/${shared.id}`, undefined, as(tokens.ehr))).status).toBe(403);
    expect(
      (await fhir(server, 'DELETE', `Observation?identifier=urn:probe|${marker}`, undefined, as(tokens.ehr))).status,
    ).toBe(403);
    expect((await fhir(server, 'GET', `Observation/${shared.id}`, undefined, as(admin))).body.meta.versionId).toBe('1');
  });

  it('lets a patient token update its own Patient, but not link it to another patient', async () => {
    const current = (await fhir(server, 'GET', `Patient/${own}`, undefined, as(admin))).body;
    const linked = await fhir(
      server,
      'PUT',
      `Patient/${own}`,
      { ...current, link: [{ other: ref(other), type: 'seealso' }] },
      as(tokens.ehr),
    );
    expect(linked.status).toBe(403);
    const related = { ...current, link: [{ other: { reference: 'RelatedPerson/mother' }, type: 'seealso' }] };
    expect((await fhir(server, 'PUT', `Patient/${own}`, related, as(tokens.ehr))).status).toBe(200);
    expect((await fhir(server, 'GET', `Patient/${own}`, undefined, as(admin))).body.link).toEqual(related.link);
  });

  it('refuses a conditional update that names an existing resource of another patient by the body’s id', async () => {
    // No match, so the handler writes the body's id: that must not overwrite (take over) the other patient's resource.
    const theirs = await adminCreate(observation(randomUUID(), other));
    const takeover = { ...observation(randomUUID(), own), id: theirs.id };
    const res = await fhir(server, 'PUT', `Observation?identifier=urn:probe|${randomUUID()}`, takeover, as(tokens.ehr));
    expect(res.status).toBe(404);
    const stored = (await fhir(server, 'GET', `Observation/${theirs.id}`, undefined, as(admin))).body;
    expect([stored.meta.versionId, stored.subject]).toEqual(['1', ref(other)]);
  });
});

describe('Bundles under a compartment-confined token', () => {
  it('fails a transaction with a cross-patient entry as a whole; a batch refuses that entry only', async () => {
    const entries = (marker: string) =>
      [observation(`${marker}-own`, own), observation(`${marker}-cross`, other, [own])].map((resource) => ({
        resource,
        request: { method: 'POST', url: 'Observation' },
      }));
    const t = randomUUID();
    const transaction = await fhir(
      server,
      'POST',
      '',
      { resourceType: 'Bundle', type: 'transaction', entry: entries(t) },
      as(tokens.ehr),
    );
    expect(transaction.status).toBe(403);
    expect([await written('Observation', `${t}-own`), await written('Observation', `${t}-cross`)]).toEqual([0, 0]);
    const b = randomUUID();
    const batch = await fhir(
      server,
      'POST',
      '',
      { resourceType: 'Bundle', type: 'batch', entry: entries(b) },
      as(tokens.ehr),
    );
    expect(batch.body.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['201', '403']);
    expect([await written('Observation', `${b}-own`), await written('Observation', `${b}-cross`)]).toEqual([1, 0]);
  });

  it('refuses a transaction update entry that moves an own resource into another patient’s compartment', async () => {
    const current = await adminCreate(observation(randomUUID(), own));
    const entry = [
      {
        resource: { ...current, performer: [ref(other)] },
        request: { method: 'PUT', url: `Observation/${current.id}` },
      },
    ];
    expect(
      (await fhir(server, 'POST', '', { resourceType: 'Bundle', type: 'transaction', entry }, as(tokens.standalone)))
        .status,
    ).toBe(403);
    expect((await fhir(server, 'GET', `Observation/${current.id}`, undefined, as(admin))).body.meta.versionId).toBe(
      '1',
    );
  });
});
