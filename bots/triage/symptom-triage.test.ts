import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { CHECK_INS } from './symptom-checkins.ts';
import { responseOf } from './symptom-responses.ts';
import { questionnaireBundle } from './symptom-scoring.ts';

/** The symptom-triage bot on a real server: check-ins answered over REST, the bot's writes read back. */
let server: Tributary;
let nurse: string;
const byName = (name: string) => CHECK_INS.find((c) => c.name === name)!;

beforeAll(async () => {
  server = await startTestServer({}, { BOTS: 'symptom-triage', SUBSCRIPTION_RETRY_BASE_MS: '20' });
  nurse = `Practitioner/${(await fhir(server, 'POST', 'Practitioner', { resourceType: 'Practitioner' })).body.id}`;
});
afterAll(async () => {
  await server?.close();
});

const search = async (query: string) =>
  (await fhir(server, 'GET', query)).body.entry?.map((e: any) => e.resource) ?? [];

async function newPatient(): Promise<string> {
  const patient = `Patient/${(await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' })).body.id}`;
  await fhir(server, 'POST', 'CareTeam', {
    resourceType: 'CareTeam',
    status: 'active',
    subject: { reference: patient },
    participant: [{ member: { reference: nurse } }],
  });
  return patient;
}

/** Posts a check-in response and waits for its RiskAssessment. */
async function checkIn(name: string, answers: Record<string, boolean | number>, patient?: string) {
  patient ??= await newPatient();
  const qr = await fhir(server, 'POST', 'QuestionnaireResponse', responseOf(byName(name), answers, patient));
  expect(qr.status).toBe(201);
  const ra = await until(
    async () => (await search(`RiskAssessment?subject=${patient}&_sort=-_lastUpdated`))[0],
    20_000,
    'the RiskAssessment',
  );
  return { patient, qr: qr.body, ra, communications: await search(`Communication?subject=${patient}`) };
}

const band = (ra: any) => ra.prediction[0].qualitativeRisk.coding[0].code;

describe('symptom-triage bot', () => {
  it('the six Questionnaires install (and re-install) from the shipped file and pass the server validation', async () => {
    const shipped = JSON.parse(readFileSync(new URL('./symptom-questionnaires.json', import.meta.url), 'utf8'));
    // The file is what the code defines (regenerate it from questionnaireBundle() after changing a check-in).
    expect(shipped).toEqual(questionnaireBundle());
    for (let i = 0; i < 2; i++) expect((await fhir(server, 'POST', '', shipped)).status).toBe(200);
    const stored = await search('Questionnaire?url=https://tributary.dev/fhir/Questionnaire/symptom-headache');
    expect(stored).toHaveLength(1);
    expect(stored[0].item).toHaveLength(byName('headache').questions.length);
  });

  it('mild: a RiskAssessment with home care advice, no Communication; Provenance names the bot', async () => {
    const { qr, ra, communications } = await checkIn('fever', { temperature: 38.2, rigors: true });
    expect(band(ra)).toBe('mild');
    expect(ra.basis[0].reference).toBe(`QuestionnaireResponse/${qr.id}/_history/1`);
    expect(ra.mitigation).toMatch(/^Home care/);
    expect(ra.note[0].text).toContain('score 20/100');
    expect(communications).toEqual([]);
    const [provenance] = await search(`Provenance?target=RiskAssessment/${ra.id}`);
    expect(provenance.agent[0].who.reference).toBe('Device/bot-symptom-triage');
    expect(provenance.entity[0].what.reference).toBe(`QuestionnaireResponse/${qr.id}/_history/1`);
  });

  it("moderate: proposes the next three free Slots of a practitioner's Schedule", async () => {
    const hour = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
    const schedule = async (actor: string) =>
      (
        await fhir(server, 'POST', 'Schedule', {
          resourceType: 'Schedule',
          active: true,
          actor: [{ reference: actor }],
        })
      ).body.id;
    const gp = await schedule(nurse);
    const room = await schedule('Location/room-1');
    const slot = async (scheduleId: string, h: number, status = 'free') =>
      (
        await fhir(server, 'POST', 'Slot', {
          resourceType: 'Slot',
          schedule: { reference: `Schedule/${scheduleId}` },
          status,
          start: hour(h),
          end: hour(h + 0.25),
        })
      ).body.id;
    await slot(gp, -2); // past
    await slot(gp, 1, 'busy');
    await slot(room, 1.5); // not a practitioner's
    const expected = [await slot(gp, 2), await slot(gp, 3), await slot(gp, 4)];
    await slot(gp, 5);
    const { patient, ra, communications } = await checkIn('abdominal-pain', {
      'pain-score': 6,
      worsening: true,
      fever: true,
    });
    expect(band(ra)).toBe('moderate');
    expect(communications).toHaveLength(1);
    expect(communications[0]).toMatchObject({
      category: [{ coding: [{ code: 'notification' }] }],
      recipient: [{ reference: patient }],
    });
    const proposed = communications[0].payload.flatMap((p: any) =>
      p.contentReference ? [p.contentReference.reference] : [],
    );
    expect(proposed).toEqual(expected.map((id) => `Slot/${id}`));
  });

  it('a red flag overrides the score: chest pain with breathlessness alerts the care team, urgent', async () => {
    const { ra, communications } = await checkIn('chest-pain', { 'pain-now': true, breathless: true });
    expect(band(ra)).toBe('serious-critical');
    expect(ra.note.map((n: any) => n.text).join(' ')).toContain(
      'Red flag: Chest pain now with breathlessness (NICE CG95',
    );
    expect(communications).toHaveLength(1);
    expect(communications[0]).toMatchObject({
      priority: 'urgent',
      category: [{ coding: [{ code: 'alert' }] }],
      recipient: [{ reference: nurse }],
      about: [{ reference: `RiskAssessment/${ra.id}` }],
    });
  });

  it('a response to another Questionnaire, or without a patient, is skipped', async () => {
    const other = { ...responseOf(byName('rash')), questionnaire: 'http://example.org/Questionnaire/phq-9' };
    const res = await fhir(server, 'POST', 'Device/bot-symptom-triage/$execute', other);
    expect(JSON.parse(res.body.parameter.find((p: any) => p.name === 'result').valueString)).toMatchObject({
      outcome: 'skipped',
    });
    const anonymous = await fhir(server, 'POST', 'Device/bot-symptom-triage/$execute', responseOf(byName('rash')));
    expect(JSON.parse(anonymous.body.parameter.find((p: any) => p.name === 'result').valueString)).toMatchObject({
      outcome: 'skipped',
      reason: 'the response has no Patient subject',
    });
  });
});
