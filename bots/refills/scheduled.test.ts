import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { AUTO_REFILL_EXTENSION } from './bot.ts';

/** The scheduled bots, refills and adherence: what a run writes, once, with Provenance and an audited run. */
let server: Tributary;
const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();
const RX = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const metformin = { coding: [{ system: RX, code: '6809', display: 'metformin' }] };

beforeAll(async () => {
  server = await startTestServer({}, { BOTS: 'refills,adherence,prescription-validation' });
});
afterAll(async () => {
  await server?.close();
});

const put = async (r: Record<string, any>) => {
  const res = await fhir(server, 'PUT', `${r.resourceType}/${r.id}`, r);
  if (res.status >= 300) throw new Error(`${r.resourceType}/${r.id}: ${res.status} ${JSON.stringify(res.body)}`);
};
const search = async (query: string) =>
  (await fhir(server, 'GET', query)).body.entry?.map((e: any) => e.resource) ?? [];
const execute = async (bot: string) => {
  const res = await fhir(server, 'POST', `Device/bot-${bot}/$execute`, { resourceType: 'Parameters' });
  expect(res.status).toBe(200);
  const outcome = res.body.parameter.find((p: any) => p.name === 'outcome').valueCode;
  const text = res.body.parameter.find((p: any) => p.name === 'result' || p.name === 'error').valueString;
  expect(outcome, text).toBe('success');
  return JSON.parse(text);
};

function order(id: string, patient: string, repeats: number, extra: object = {}) {
  return {
    resourceType: 'MedicationRequest',
    id,
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: metformin,
    subject: { reference: `Patient/${patient}` },
    requester: { reference: 'Practitioner/dr' },
    authoredOn: ago(40),
    dosageInstruction: [
      {
        timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } },
        doseAndRate: [{ doseQuantity: { value: 500, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } }],
      },
    ],
    dispenseRequest: { quantity: { value: 30, unit: 'tablet' }, numberOfRepeatsAllowed: repeats },
    ...extra,
  };
}
const dispense = (id: string, request: string, patient: string, daysAgo: number) => ({
  resourceType: 'MedicationDispense',
  id,
  status: 'completed',
  medicationCodeableConcept: metformin,
  subject: { reference: `Patient/${patient}` },
  authorizingPrescription: [{ reference: `MedicationRequest/${request}` }],
  whenHandedOver: ago(daysAgo),
  daysSupply: { value: 30, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' },
});

describe('scheduled bots', () => {
  it('registers each with its schedule, recorded once per cluster', async () => {
    const { rows } = await server.pool.query<{ bot: string }>('SELECT bot FROM bot_schedule ORDER BY bot');
    expect(rows.map((r) => r.bot)).toEqual(['adherence', 'refills']);
    for (const bot of ['refills', 'adherence'])
      expect((await fhir(server, 'GET', `Device/bot-${bot}`)).body.status).toBe('active');
  });

  it('refills: reminds patients whose supply runs out, orders a refill for those opted in, once', async () => {
    await put({ resourceType: 'Practitioner', id: 'dr', active: true });
    await put({
      resourceType: 'PractitionerRole',
      id: 'dr-role',
      active: true,
      practitioner: { reference: 'Practitioner/dr' },
      code: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/practitioner-role', code: 'doctor' }] }],
    });
    await put({
      resourceType: 'Patient',
      id: 'opted',
      active: true,
      extension: [{ url: AUTO_REFILL_EXTENSION, valueBoolean: true }],
    });
    for (const id of ['plain', 'used-up', 'stocked', 'expired'])
      await put({ resourceType: 'Patient', id, active: true });
    await put(order('o-opted', 'opted', 2));
    await put(dispense('d-opted', 'o-opted', 'opted', 25));
    await put(order('o-plain', 'plain', 1));
    await put(dispense('d-plain', 'o-plain', 'plain', 26));
    await put(order('o-used-up', 'used-up', 0));
    await put(dispense('d-used-up', 'o-used-up', 'used-up', 25));
    await put(order('o-stocked', 'stocked', 3));
    await put(dispense('d-stocked', 'o-stocked', 'stocked', 5));
    await put(
      order('o-expired', 'expired', 3, {
        dispenseRequest: { quantity: { value: 30 }, numberOfRepeatsAllowed: 3, validityPeriod: { end: ago(1) } },
      }),
    );
    await put(dispense('d-expired', 'o-expired', 'expired', 25));

    expect(await execute('refills')).toMatchObject({ reminded: 2, ordered: 1 });
    const reminders = await search('Communication?sender=Device/bot-refills&_count=50');
    expect(reminders.map((c: any) => c.recipient[0].reference).sort()).toEqual(['Patient/opted', 'Patient/plain']);
    expect(reminders.find((c: any) => c.recipient[0].reference === 'Patient/plain').payload[0].contentString).toContain(
      '1 refill left',
    );
    const [refill] = await search('MedicationRequest?intent=reflex-order&subject=Patient/opted');
    expect(refill).toMatchObject({
      intent: 'reflex-order',
      priorPrescription: { reference: 'MedicationRequest/o-opted' },
    });
    const [provenance] = await search(`Provenance?target=MedicationRequest/${refill.id}`);
    expect(provenance.agent[0].who.reference).toBe('Device/bot-refills');
    // prescription validation checks the draft refill, which is clean: it becomes active
    await until(async () => (await fhir(server, 'GET', `MedicationRequest/${refill.id}`)).body.status === 'active');
    // a second run (a slot run twice, a retry) writes nothing new
    expect(await execute('refills')).toMatchObject({ reminded: 0, ordered: 0 });
    const runs = await search('AuditEvent?agent=Device/bot-refills&_count=10');
    expect(runs.length).toBeGreaterThanOrEqual(2);
  });

  it('adherence: flags and alerts the care team when expected events did not arrive, with a weekly summary', async () => {
    const bp = { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure' }] };
    await put({ resourceType: 'Practitioner', id: 'nurse-n', active: true });
    await put({
      resourceType: 'CareTeam',
      id: 'team',
      status: 'active',
      participant: [{ member: { reference: 'Practitioner/nurse-n' } }],
    });
    for (const id of ['lax', 'keen']) await put({ resourceType: 'Patient', id, active: true });
    const plan = (id: string, patient: string) => ({
      resourceType: 'CarePlan',
      id,
      status: 'active',
      intent: 'plan',
      subject: { reference: `Patient/${patient}` },
      careTeam: [{ reference: 'CareTeam/team' }],
      activity: [
        {
          detail: {
            kind: 'MedicationRequest',
            status: 'in-progress',
            productCodeableConcept: metformin,
            scheduledTiming: { repeat: { frequency: 2, period: 1, periodUnit: 'd' } },
          },
        },
        {
          detail: {
            status: 'in-progress',
            code: bp,
            scheduledTiming: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } },
          },
        },
      ],
    });
    await put(plan('plan-lax', 'lax'));
    await put(plan('plan-keen', 'keen'));
    const administer = (patient: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        resourceType: 'MedicationAdministration',
        id: `ma-${patient}-${i}`,
        status: 'completed',
        medicationCodeableConcept: metformin,
        subject: { reference: `Patient/${patient}` },
        effectiveDateTime: ago(0.2 + i * 0.45),
      }));
    const measure = (patient: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        resourceType: 'Observation',
        id: `bp-${patient}-${i}`,
        status: 'final',
        code: bp,
        subject: { reference: `Patient/${patient}` },
        effectiveDateTime: ago(0.5 + i * 0.9),
        valueQuantity: { value: 120, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      }));
    for (const r of [...administer('lax', 6), ...measure('lax', 7), ...administer('keen', 14), ...measure('keen', 7)])
      await put(r);

    expect(await execute('adherence')).toMatchObject({ summaries: 2, flagged: 1 });
    const [flag] = await search('Flag?subject=Patient/lax');
    expect(flag).toMatchObject({ status: 'active', author: { reference: 'Device/bot-adherence' } });
    expect(flag.code.text).toContain('metformin 6/14');
    expect(await search('Flag?subject=Patient/keen')).toEqual([]);
    const [alert] = await search('Communication?sender=Device/bot-adherence&subject=Patient/lax');
    expect(alert.recipient).toEqual([{ reference: 'Practitioner/nurse-n' }]);
    const [lax] = await search(
      'Observation?subject=Patient/lax&code=https://tributary.dev/fhir/CodeSystem/adherence|weekly-summary',
    );
    expect(lax.valueQuantity.value).toBe(61.9); // (6 + 7) / (14 + 7)
    expect(lax.component.map((c: any) => [c.valueRatio.numerator.value, c.valueRatio.denominator.value])).toEqual([
      [6, 14],
      [7, 7],
    ]);
    const [keen] = await search(
      'Observation?subject=Patient/keen&code=https://tributary.dev/fhir/CodeSystem/adherence|weekly-summary',
    );
    expect(keen.valueQuantity.value).toBe(100);
    const [provenance] = await search(`Provenance?target=Flag/${flag.id}`);
    expect(provenance.agent[0].who.reference).toBe('Device/bot-adherence');
    expect(await execute('adherence')).toMatchObject({ summaries: 0, flagged: 0 });
  });
});
