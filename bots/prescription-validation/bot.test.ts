import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { CHECK_SYSTEM } from './check.ts';
import { loadFixtures, mr } from './tests/fixtures.ts';

/** The bot end to end (on hold, DetectedIssues, Communication, Provenance, audit) and the hard stop. */
let server: Tributary;

beforeAll(async () => {
  server = await startTestServer(
    {},
    { BOTS: 'prescription-validation', PRESCRIPTION_HARD_STOP_CLIENTS: 'pharmacy', SUBSCRIPTION_RETRY_BASE_MS: '20' },
  );
  await loadFixtures(server);
});
afterAll(async () => {
  await server?.close();
});

const search = async (query: string) =>
  (await fhir(server, 'GET', query)).body.entry?.map((e: any) => e.resource) ?? [];
const issuesOf = (id: string) => search(`DetectedIssue?implicated=MedicationRequest/${id}&_count=50`);

describe('the prescription-validation bot', () => {
  it('puts a blocked prescription on hold with DetectedIssues, a statusReason and an alert to the prescriber', async () => {
    const created = await fhir(
      server,
      'POST',
      'MedicationRequest',
      mr({ patient: 'p-allergy', rxcui: '723', dose: 500, perDay: 3 }),
    );
    expect(created.status).toBe(201);
    const id = created.body.id;
    const held = await until(
      async () => {
        const r = (await fhir(server, 'GET', `MedicationRequest/${id}`)).body;
        return r.status === 'on-hold' && r;
      },
      20_000,
      'the request on hold',
    );
    expect(held.statusReason.coding).toContainEqual(
      expect.objectContaining({
        system: 'http://terminology.hl7.org/CodeSystem/medicationrequest-status-reason',
        code: 'salg',
      }),
    );
    expect(held.statusReason.coding).toContainEqual({ system: CHECK_SYSTEM, code: 'allergy' });
    const issues = await issuesOf(id);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ status: 'final', severity: 'high' });
    expect(issues[0].code.coding).toEqual(
      expect.arrayContaining([
        { system: CHECK_SYSTEM, code: 'allergy' },
        { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'ALGY' },
      ]),
    );
    expect(issues[0].implicated).toContainEqual({ reference: 'AllergyIntolerance/alg-pen' });
    // (Communication has no `about` search parameter in R4: filtered here)
    const alert = (await search('Communication?recipient=Practitioner/dr-a&_count=100')).find((c: any) =>
      c.about.some((a: any) => a.reference === `MedicationRequest/${id}`),
    );
    expect(alert).toMatchObject({
      status: 'completed',
      priority: 'urgent',
      sender: { reference: 'Device/bot-prescription-validation' },
    });
    expect(alert.about).toContainEqual({ reference: `DetectedIssue/${issues[0].id}` });
    // every write of the bot carries a Provenance naming it, with the checked version as its source
    const provenance = await search(`Provenance?target=MedicationRequest/${id}`);
    expect(provenance).toHaveLength(1);
    expect(provenance[0].agent[0].who.reference).toBe('Device/bot-prescription-validation');
    expect(provenance[0].entity[0].what.reference).toBe(`MedicationRequest/${id}/_history/1`);
    expect(provenance[0].target.map((t: any) => t.reference.split('/')[0]).sort()).toEqual([
      'Communication',
      'DetectedIssue',
      'MedicationRequest',
    ]);
    // and the run is audited, with each layer's pass or fail
    const runs = await until(async () => {
      const all = await search('AuditEvent?agent=Device/bot-prescription-validation&_count=100');
      const mine = all.filter((a: any) => a.entity[0].what.reference === `MedicationRequest/${id}/_history/1`);
      return mine.length > 0 && mine;
    });
    expect(runs[0].outcome).toBe('0');
    const result = JSON.parse(runs[0].entity[0].detail.find((d: any) => d.type === 'result').valueString);
    expect(result.layers).toContain('allergy:fail');
    expect(result.layers).toContain('interaction:pass');
    expect(result.status).toBe('on-hold');
    expect(result.reasons.allergy[0]).toContain('amoxicillin');
    // the issues are in the patient's compartment, like the prescription
    expect(issues[0].patient).toEqual({ reference: 'Patient/p-allergy' });
  });

  it('activates a clean draft once, and leaves a clean active request as it is', async () => {
    const draft = (await fhir(server, 'POST', 'MedicationRequest', mr({ status: 'draft' }))).body;
    const active = await until(async () => {
      const r = (await fhir(server, 'GET', `MedicationRequest/${draft.id}`)).body;
      return r.status === 'active' && r;
    });
    expect(active.meta.versionId).toBe('2');
    const clean = (await fhir(server, 'POST', 'MedicationRequest', mr({ rxcui: '17767', dose: 5 }))).body;
    await until(async () => {
      const runs = await search('AuditEvent?agent=Device/bot-prescription-validation&_count=200');
      const on = (ref: string) => runs.some((a: any) => a.entity[0].what.reference === ref);
      return on(`MedicationRequest/${clean.id}/_history/1`) && on(`MedicationRequest/${draft.id}/_history/2`);
    });
    expect((await fhir(server, 'GET', `MedicationRequest/${clean.id}`)).body.meta.versionId).toBe('1');
    expect((await fhir(server, 'GET', `MedicationRequest/${draft.id}`)).body.meta.versionId).toBe('2');
    expect(await issuesOf(draft.id)).toEqual([]);
    expect(await issuesOf(clean.id)).toEqual([]);
  });

  it('records a warning without holding the request, once', async () => {
    const body = mr({ patient: 'p-allergy', rxcui: '2231', dose: 500, perDay: 2, status: 'draft' });
    const id = (await fhir(server, 'POST', 'MedicationRequest', body)).body.id;
    await until(async () => (await fhir(server, 'GET', `MedicationRequest/${id}`)).body.status === 'active');
    await until(async () => {
      const runs = await search('AuditEvent?agent=Device/bot-prescription-validation&_count=200');
      return runs.some((a: any) => a.entity[0].what.reference === `MedicationRequest/${id}/_history/2`);
    });
    const issues = await issuesOf(id);
    expect(issues.map((i: any) => i.severity)).toEqual(['moderate']);
  });
});

describe('the hard stop', () => {
  it('refuses a blocked prescription with Prefer: handling=strict, and stores nothing of it', async () => {
    const body = {
      ...mr({ patient: 'p-interact', rxcui: '343047', dose: 300 }),
      identifier: [{ system: 'urn:t', value: 'strict-1' }],
    };
    const res = await fhir(server, 'POST', 'MedicationRequest', body, { prefer: 'handling=strict' });
    expect(res.status).toBe(422);
    expect(res.body.issue.map((i: any) => i.details.coding[0])).toEqual([
      { system: CHECK_SYSTEM, code: 'interaction' },
      { system: CHECK_SYSTEM, code: 'interaction' },
    ]);
    expect(await search('MedicationRequest?identifier=urn:t|strict-1')).toEqual([]);
    // the same inside a transaction: the whole Bundle is refused
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { resourceType: 'Patient', identifier: [{ system: 'urn:t', value: 'strict-2' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        { resource: body, request: { method: 'POST', url: 'MedicationRequest' } },
      ],
    };
    const tx = await fhir(server, 'POST', '', bundle, { prefer: 'handling=strict' });
    expect(tx.status).toBe(422);
    expect(await search('Patient?identifier=urn:t|strict-2')).toEqual([]);
  });

  it('lets a clean prescription through with Prefer: handling=strict', async () => {
    const res = await fhir(server, 'POST', 'MedicationRequest', mr({ rxcui: '83367', dose: 40 }), {
      prefer: 'handling=strict',
    });
    expect(res.status).toBe(201);
  });

  it('without the preference, keeps the write and leaves the decision to the bot', async () => {
    const res = await fhir(server, 'POST', 'MedicationRequest', mr({ requester: 'Practitioner/dr-gone' }));
    expect(res.status).toBe(201);
    await until(async () => (await fhir(server, 'GET', `MedicationRequest/${res.body.id}`)).body.status === 'on-hold');
  });
});
