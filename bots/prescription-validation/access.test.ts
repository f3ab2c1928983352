import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import {
  adminApi,
  adminToken,
  backendServiceToken,
  launchToken,
  oidcClient,
  startAuthServer,
} from '../../test/auth-helpers.ts';
import { fhir } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { loadFixtures, mr } from './tests/fixtures.ts';

/**
 * Prescription validation under confined tokens: a patient's token validates only its own patient's prescriptions
 * and reads only what it may while doing so; the hard stop per client; bad input to the operation.
 */
const REDIRECT = 'http://127.0.0.1:9/callback';
let server: Tributary;
let admin: string;
let patientToken: string;
let readOnly: string;
let pharmacy: string;
const as = (token: string) => ({ authorization: `Bearer ${token}` });
const OP = 'MedicationRequest/$validate-prescription';

function backend(clientId: string, scope: string): Promise<string> {
  return backendServiceToken(server, admin, clientId, scope);
}

beforeAll(async () => {
  server = await startAuthServer({ BOTS: 'prescription-validation', PRESCRIPTION_HARD_STOP_CLIENTS: 'pharmacy' });
  admin = await adminToken(server);
  await loadFixtures(server, as(admin));
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'pat',
    password: 'pat password',
    role: 'patient',
    fhirUser: 'Patient/p-allergy',
    patient: 'p-allergy',
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'patient-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
  const app = await oidcClient(server, 'patient-app', client.None());
  patientToken = await launchToken(server, admin, app, REDIRECT, 'patient/*.rs', {
    username: 'pat',
    password: 'pat password',
  });
  pharmacy = await backend('pharmacy', 'system/*.cruds');
  readOnly = await backend('reader', 'system/Patient.rs');
}, 120_000);
afterAll(async () => {
  await server?.close();
});

describe('$validate-prescription with confined tokens', () => {
  it('a patient validates a prescription of their own and sees their own allergy found', async () => {
    const res = await fhir(
      server,
      'POST',
      OP,
      mr({ patient: 'p-allergy', rxcui: '723', dose: 500, perDay: 3 }),
      as(patientToken),
    );
    expect(res.status).toBe(200);
    const checks = res.body.entry.map((e: any) => e.resource.code.coding[0].code);
    expect(checks).toContain('allergy');
    expect(res.body.entry[0].resource.patient).toEqual({ reference: 'Patient/p-allergy' });
  });

  it('a patient cannot validate another patient’s prescription, nor learn of its records through it', async () => {
    const res = await fhir(
      server,
      'POST',
      OP,
      mr({ patient: 'p-interact', rxcui: '343047', dose: 300 }),
      as(patientToken),
    );
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).not.toContain('omeprazole');
    // a reference to the other patient anywhere else in the body does not widen what the checks read
    const sneaky = {
      ...mr({ patient: 'p-allergy', rxcui: '723' }),
      priorPrescription: { reference: 'MedicationRequest/rf-done' },
    };
    const res2 = await fhir(server, 'POST', OP, sneaky, as(patientToken));
    expect(res2.status).toBe(200);
    expect(JSON.stringify(res2.body)).not.toContain('rf-done has no repeats');
  });

  it('a token without MedicationRequest search cannot call it', async () => {
    const res = await fhir(server, 'POST', OP, mr(), as(readOnly));
    expect(res.status).toBe(403);
  });

  it('answers 400, never 500, to bad bodies', async () => {
    const bad: unknown[] = [
      { resourceType: 'Patient' },
      [],
      'text',
      { ...mr(), medicationCodeableConcept: 'metformin' },
      { ...mr(), dosageInstruction: { dose: 1 } },
      { ...mr(), note: [{ text: 'a\u0000b' }] },
    ];
    for (const body of bad) {
      const res = await fhir(server, 'POST', OP, typeof body === 'string' ? body : JSON.stringify(body), as(admin));
      const shown = JSON.stringify(body).slice(60, 200);
      // the server's validator refuses most; what it lets through (a string as a CodeableConcept) is reported
      if (res.status === 200)
        expect(
          res.body.entry.map((e: any) => e.resource.code.coding[0].code),
          shown,
        ).toContain('structure');
      else expect([400, 422], shown).toContain(res.status);
    }
    const res = await fhir(server, 'POST', OP, '{"resourceType":"MedicationRequest",', as(admin));
    expect(res.status).toBe(400);
    // a subject no id can be: reported, not a failure
    const long = await fhir(
      server,
      'POST',
      OP,
      { ...mr(), subject: { reference: 'Patient/' + 'x'.repeat(5000) } },
      as(admin),
    );
    expect(long.status).toBe(200);
    expect(long.body.entry.map((e: any) => e.resource.code.coding[0].code)).toContain('structure');
  });

  it('writes nothing', async () => {
    const before = (await fhir(server, 'GET', 'DetectedIssue?_summary=count', undefined, as(admin))).body.total;
    await fhir(server, 'POST', OP, mr({ patient: 'p-allergy', rxcui: '723' }), as(admin));
    expect((await fhir(server, 'GET', 'DetectedIssue?_summary=count', undefined, as(admin))).body.total).toBe(before);
  });
});

describe('the hard stop per client', () => {
  it('refuses a blocked prescription from a listed client; another client’s write is held by the bot', async () => {
    const body = mr({ patient: 'p-interact', rxcui: '343047', dose: 300 });
    const refused = await fhir(server, 'POST', 'MedicationRequest', body, as(pharmacy));
    expect(refused.status).toBe(422);
    expect(refused.body.issue[0].code).toBe('business-rule');
    const kept = await fhir(server, 'POST', 'MedicationRequest', body, as(admin));
    expect(kept.status).toBe(201);
    const held = await until(async () => {
      const r = (await fhir(server, 'GET', `MedicationRequest/${kept.body.id}`, undefined, as(admin))).body;
      return r.status === 'on-hold' && r;
    });
    expect(held.statusReason.coding[0].code).toBe('sddi');
    // the patient's own token sees its own prescriptions' issues, never another patient's
    const own = await fhir(server, 'GET', 'DetectedIssue?_count=100', undefined, as(patientToken));
    expect(own.status).toBe(200);
    for (const e of own.body.entry ?? []) expect(e.resource.patient.reference).toBe('Patient/p-allergy');
    const other = await fhir(
      server,
      'GET',
      `DetectedIssue?implicated=MedicationRequest/${kept.body.id}`,
      undefined,
      as(patientToken),
    );
    expect(other.body.entry ?? []).toEqual([]);
    const adminView = await fhir(
      server,
      'GET',
      `DetectedIssue?implicated=MedicationRequest/${kept.body.id}`,
      undefined,
      as(admin),
    );
    expect(adminView.body.entry.length).toBeGreaterThan(0);
    const [provenance] = (
      await fhir(server, 'GET', `Provenance?target=MedicationRequest/${kept.body.id}`, undefined, as(admin))
    ).body.entry.map((e: any) => e.resource);
    expect(provenance.agent[0].who.reference).toBe('Device/bot-prescription-validation');
  });

  it('a listed client’s clean prescription is stored', async () => {
    const res = await fhir(server, 'POST', 'MedicationRequest', mr({ rxcui: '83367', dose: 40 }), as(pharmacy));
    expect(res.status).toBe(201);
  });
});
