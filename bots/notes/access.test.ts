import type { Bundle, DocumentReference } from '@medplum/fhirtypes';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, launchToken, oidcClient, startAuthServer } from '../../test/auth-helpers.ts';
import { draftText, idsOf, parseEvents, testRecord } from './test-record.ts';

/**
 * `$draft-note` under confined tokens: the caller must be able to read the encounter (else 404, as if absent) and
 * create the DocumentReference (else 403, nothing stored), and the note is drafted only from what the caller may read.
 */
const REDIRECT = 'http://127.0.0.1:9/callback';
let server: Tributary;
let admin: string;
let own: Record<string, string>;
let other: Record<string, string>;
const tokens: Record<string, string> = {};
const as = (token: string) => ({ authorization: `Bearer ${token}` });

async function record(marker: string): Promise<Record<string, string>> {
  const bundle = testRecord('in-progress', marker);
  const res = await fhir(server, 'POST', '', bundle, as(admin));
  expect(res.status).toBe(200);
  return idsOf(bundle, res.body as Bundle);
}

async function draft(token: string, encounter: string) {
  return fhir(server, 'POST', `Encounter/${encounter}/$draft-note`, undefined, as(token));
}

async function drafts(encounter: string): Promise<DocumentReference[]> {
  const res = await fhir(server, 'GET', `DocumentReference?encounter=Encounter/${encounter}`, undefined, as(admin));
  return ((res.body as Bundle).entry ?? []).map((e) => e.resource as DocumentReference);
}

beforeAll(async () => {
  server = await startAuthServer({ BOTS: 'notes' });
  admin = await adminToken(server);
  own = await record('own');
  other = await record('other');
  // another patient's Observation filed under the own patient's encounter: a patient token must not see it
  const hidden = await fhir(
    server,
    'POST',
    'Observation',
    {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'Hidden measurement' },
      subject: { reference: `Patient/${other.pat}` },
      encounter: { reference: `Encounter/${own.enc}` },
      valueQuantity: { value: 77.7, unit: 'kg' },
    },
    as(admin),
  );
  expect(hidden.status).toBe(201);
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'doc',
    password: 'doc password',
    role: 'practitioner',
    fhirUser: 'Practitioner/doc',
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'notes-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
  const app = await oidcClient(server, 'notes-app', client.None());
  const doc = { username: 'doc', password: 'doc password', patient: own.pat };
  tokens.patientWrite = await launchToken(server, admin, app, REDIRECT, 'launch patient/*.cruds', doc, own.pat);
  tokens.patientRead = await launchToken(server, admin, app, REDIRECT, 'launch patient/*.rs', doc, own.pat);
  tokens.encounterOnly = await adminToken(server, 'system/Encounter.rs system/DocumentReference.c');
  tokens.noEncounter = await adminToken(server, 'system/Observation.rs system/DocumentReference.c');
  tokens.plannedOnly = await adminToken(server, 'system/Encounter.rs?status=planned system/DocumentReference.c');
}, 120_000);

afterAll(async () => {
  await server?.close();
});

describe('$draft-note under confined tokens', () => {
  it('a patient token drafts for its own encounter, from its own patient’s data only', async () => {
    const res = await draft(tokens.patientWrite, own.enc);
    expect(res.status).toBe(201);
    const text = draftText(res.body as DocumentReference);
    expect(text).toContain('38.2 Cel');
    expect(text).not.toContain('Hidden measurement');
    expect(text).not.toContain('77.7');
    // the same encounter drafted with full access holds it: the difference is the token's
    const full = await draft(admin, own.enc);
    expect(draftText(full.body as DocumentReference)).toContain('Hidden measurement: 77.7 kg');
  });

  it('another patient’s encounter is unknown to it (404), and nothing is stored', async () => {
    const res = await draft(tokens.patientWrite, other.enc);
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(await drafts(other.enc)).toEqual([]);
  });

  it('a token that may read but not create DocumentReferences gets 403, and nothing is stored', async () => {
    const before = (await drafts(own.enc)).length;
    const res = await draft(tokens.patientRead, own.enc);
    expect(res.status).toBe(403);
    expect(await drafts(own.enc)).toHaveLength(before);
    const streamed = await fetch(`${server.fhirBase}/Encounter/${own.enc}/$draft-note`, {
      method: 'POST',
      headers: { ...as(tokens.patientRead), accept: 'text/event-stream' },
    });
    const events = parseEvents(await streamed.text());
    expect(events.at(-1)?.event).toBe('error');
    expect(JSON.parse(events.at(-1)?.data ?? '{}').issue[0].code).toBe('forbidden');
    expect(await drafts(own.enc)).toHaveLength(before);
  });

  it('kinds the token may not search are left out and named', async () => {
    const res = await draft(tokens.encounterOnly, other.enc);
    expect(res.status).toBe(201);
    const text = draftText(res.body as DocumentReference);
    expect(text).not.toContain('38.2');
    expect(text).not.toContain('Amoxicillin');
    expect(text).toContain(
      'Not included (not readable with this access): Observation, Condition, Procedure, MedicationRequest, Communication, AllergyIntolerance, Patient.',
    );
  });

  it('without read access to the encounter: 403 for the type, 404 outside the scope’s criteria', async () => {
    expect((await draft(tokens.noEncounter, own.enc)).status).toBe(403);
    expect((await draft(tokens.plannedOnly, own.enc)).status).toBe(404);
    expect((await draft(tokens.plannedOnly, 'no-such-encounter')).status).toBe(404);
  });
});
