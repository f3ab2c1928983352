import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { NORMAL_VITALS, vitalObservations, vitalsTransaction, type VitalSet } from './news2-vitals.ts';

/**
 * The NEWS2 bot on a real server: vitals written over REST, the bot's writes read back. Each test has its own
 * patient; `settle` waits until the bot's run for every written Observation is over (its AuditEvent), so "nothing
 * new" is a statement about finished runs.
 */
let server: Tributary;

beforeAll(async () => {
  server = await startTestServer({}, { BOTS: 'news2', SUBSCRIPTION_RETRY_BASE_MS: '20' });
});
afterAll(async () => {
  await server?.close();
});

const search = async (query: string) =>
  (await fhir(server, 'GET', query)).body.entry?.map((e: any) => e.resource) ?? [];

async function newPatient(): Promise<string> {
  const res = await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Triage' }] });
  return `Patient/${res.body.id}`;
}

/** Writes a set of vitals in one transaction and waits for the bot's runs on all of them; returns their ids. */
async function record(patient: string, vitals: VitalSet, minutesAgo = 0): Promise<string[]> {
  const res = await fhir(server, 'POST', '', vitalsTransaction(vitalObservations(patient, vitals, minutesAgo)));
  expect(res.status).toBe(200);
  const ids = res.body.entry.map((e: any) => e.response.location.split('/')[1]);
  await settle(ids);
  return ids;
}

async function settle(ids: string[]): Promise<void> {
  await until(
    async () => {
      const runs = await search(`AuditEvent?agent=Device/bot-news2&_sort=-_lastUpdated&_count=200`);
      const done = ids.filter((id) => runs.some((a: any) => a.entity[0].what.reference.includes(`/${id}/`)));
      const failed = runs.filter(
        (a: any) => a.outcome !== '0' && ids.some((id) => a.entity[0].what.reference.includes(id)),
      );
      if (failed.length) throw new Error(`a NEWS2 run failed: ${failed.map((a: any) => a.outcomeDesc).join('; ')}`);
      return done.length === ids.length;
    },
    30_000,
    'the NEWS2 runs',
  );
}

const assessments = (patient: string) => search(`RiskAssessment?subject=${patient}&_sort=_lastUpdated`);
const scores = (patient: string) =>
  search(`Observation?subject=${patient}&code=https://tributary.dev/fhir/CodeSystem/news2|total&_sort=_lastUpdated`);
const bandOf = (ra: any) => ra.prediction?.[0]?.qualitativeRisk?.coding?.[0]?.code;

describe('NEWS2 bot', () => {
  it('a complete normal set (one transaction, seven concurrent runs): one score Observation and one low RiskAssessment, with Provenance', async () => {
    const patient = await newPatient();
    const ids = await record(patient, NORMAL_VITALS);
    const [score, ...moreScores] = await scores(patient);
    expect(moreScores).toEqual([]);
    expect(score).toMatchObject({
      status: 'final',
      category: [{ coding: [{ code: 'survey' }] }],
      valueInteger: 0,
      subject: { reference: patient },
    });
    expect(score.code.coding).toContainEqual(
      expect.objectContaining({ system: 'http://snomed.info/sct', code: '1104051000000101' }),
    );
    expect(score.component.map((c: any) => [c.code.coding[0].code, c.valueInteger])).toEqual([
      ['respiration-rate', 0],
      ['spo2', 0],
      ['air-or-oxygen', 0],
      ['systolic-bp', 0],
      ['pulse', 0],
      ['consciousness', 0],
      ['temperature', 0],
    ]);
    expect(score.derivedFrom.map((r: any) => r.reference.split('/')[1]).sort()).toEqual([...ids].sort());
    const [ra, ...more] = await assessments(patient);
    expect(more).toEqual([]);
    expect(ra).toMatchObject({ status: 'final', method: { text: 'NEWS2' }, subject: { reference: patient } });
    expect(ra.prediction[0].qualitativeRisk.coding[0]).toMatchObject({
      system: 'https://tributary.dev/fhir/CodeSystem/news2-risk',
      code: 'low',
    });
    expect(ra.basis.map((r: any) => r.reference.split('/')[1]).sort()).toEqual([...ids].sort());
    const [provenance] = await search(`Provenance?target=RiskAssessment/${ra.id}`);
    expect(provenance.agent[0].who.reference).toBe('Device/bot-news2');
    expect(await search(`Flag?patient=${patient}`)).toEqual([]);
    expect(await search(`Communication?subject=${patient}`)).toEqual([]);
  });

  it('rising to high alerts the care team once; the same band again alerts no one; falling closes the Flag', async () => {
    const patient = await newPatient();
    const nurse = await fhir(server, 'POST', 'Practitioner', { resourceType: 'Practitioner' });
    await fhir(server, 'POST', 'CareTeam', {
      resourceType: 'CareTeam',
      status: 'active',
      subject: { reference: patient },
      participant: [
        { member: { reference: `Practitioner/${nurse.body.id}` } },
        { member: { reference: 'Practitioner/left-the-team' }, period: { end: '2020-01-01' } },
      ],
    });
    await record(patient, { ...NORMAL_VITALS, pulse: 95 }, 30);
    // SpO2 88 % and respiration rate 26 on air: 3 + 3, with the pulse of 95 (1): 7, high.
    await record(patient, { spo2: 88, rr: 26 });
    const high = (await assessments(patient)).at(-1);
    expect(bandOf(high)).toBe('high');
    expect((await scores(patient)).at(-1).valueInteger).toBe(7);
    const [flag] = await search(`Flag?patient=${patient}`);
    expect(flag).toMatchObject({ status: 'active', code: { coding: [{ code: 'high' }] } });
    const [alert] = await search(`Communication?subject=${patient}`);
    expect(alert).toMatchObject({
      status: 'completed',
      priority: 'urgent',
      category: [{ coding: [{ code: 'alert' }] }],
      recipient: [{ reference: `Practitioner/${nurse.body.id}` }],
      about: [{ reference: `RiskAssessment/${high.id}` }],
    });
    expect(alert.payload[0].contentString).toContain('NEWS2 7');

    // The same sub-scores again: nothing new at all.
    const before = (await assessments(patient)).length;
    await record(patient, { spo2: 89, rr: 27 });
    expect(await assessments(patient)).toHaveLength(before);
    // A higher score in the same band: a new assessment, no new alert.
    await record(patient, { pulse: 120 });
    const all = await assessments(patient);
    expect(all).toHaveLength(before + 1);
    expect(bandOf(all.at(-1))).toBe('high');
    expect((await scores(patient)).at(-1).valueInteger).toBe(8);
    expect(await search(`Flag?patient=${patient}`)).toHaveLength(1);
    expect(await search(`Communication?subject=${patient}`)).toHaveLength(1);

    // Back to normal: the Flag is closed, no Communication.
    await record(patient, { spo2: 97, rr: 16, pulse: 70 });
    expect(bandOf((await assessments(patient)).at(-1))).toBe('low');
    const [closed] = await search(`Flag?patient=${patient}`);
    expect(closed.status).toBe('inactive');
    expect(closed.period.end).toBeDefined();
    expect(await search(`Communication?subject=${patient}`)).toHaveLength(1);

    // Medium after low: a new Flag and a routine-priority Communication.
    await record(patient, { rr: 22, pulse: 112, temp: 38.5 });
    expect(bandOf((await assessments(patient)).at(-1))).toBe('medium');
    const flags = await search(`Flag?patient=${patient}&_sort=_lastUpdated`);
    expect(flags.map((f: any) => [f.status, f.code.coding[0].code])).toEqual([
      ['inactive', 'high'],
      ['active', 'medium'],
    ]);
    const communications = await search(`Communication?subject=${patient}&_sort=_lastUpdated`);
    expect(communications.map((c: any) => c.priority)).toEqual(['urgent', 'routine']);
  });

  it('a 3 in one parameter with a total ≤ 4 is low-medium, without an alert', async () => {
    const patient = await newPatient();
    await record(patient, { ...NORMAL_VITALS, acvpu: 'C' });
    expect(bandOf((await assessments(patient)).at(-1))).toBe('low-medium');
    expect(await search(`Communication?subject=${patient}`)).toEqual([]);
  });

  it('missing and stale parameters are reported in the note and basis; no score is given', async () => {
    const patient = await newPatient();
    const [oldPulse] = await record(patient, { pulse: 70 }, 25 * 60);
    const fresh = await record(patient, { rr: 16, spo2: 97, o2flow: 0, sbp: 120, acvpu: 'A' });
    const ra = (await assessments(patient)).at(-1);
    expect(ra.prediction).toBeUndefined();
    const note = ra.note.map((n: any) => n.text).join('\n');
    expect(note).toContain('NEWS2 not scored');
    expect(note).toMatch(/Missing temperature: no Observation/);
    expect(note).toContain(`Stale pulse: last taken`);
    expect(note).toContain(`Observation/${oldPulse}`);
    const basis = ra.basis.map((r: any) => r.reference.split('/')[1]);
    expect(basis.sort()).toEqual([...fresh, oldPulse].sort());
    expect(ra.basis.find((r: any) => r.reference.endsWith(oldPulse)).display).toMatch(/^stale pulse/);
    expect(await scores(patient)).toEqual([]);
    // The missing one arrives, the stale one is still stale: still no score.
    await record(patient, { temp: 37 });
    expect((await assessments(patient)).at(-1).prediction).toBeUndefined();
    // A fresh pulse completes the set.
    await record(patient, { pulse: 70 });
    expect(bandOf((await assessments(patient)).at(-1))).toBe('low');
  });

  it('scale 2 from an active SpO2 Goal ≤ 92 %; systolic from the BP panel; °F converted; implausible values reported', async () => {
    const patient = await newPatient();
    await fhir(server, 'POST', 'Goal', {
      resourceType: 'Goal',
      lifecycleStatus: 'active',
      description: { text: 'SpO2 88–92 %' },
      subject: { reference: patient },
      target: [
        {
          measure: { coding: [{ system: 'http://loinc.org', code: '59408-5' }] },
          detailRange: { low: { value: 88, unit: '%' }, high: { value: 92, unit: '%' } },
        },
      ],
    });
    const { sbp: _sbp, temp: _temp, ...rest } = NORMAL_VITALS;
    await record(patient, { ...rest, spo2: 89, tempF: 98.6 });
    const panel = await fhir(server, 'POST', 'Observation', {
      resourceType: 'Observation',
      status: 'final',
      subject: { reference: patient },
      effectiveDateTime: new Date().toISOString(),
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      component: [
        {
          code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
          valueQuantity: { value: 95, unit: 'mm[Hg]' },
        },
        {
          code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] },
          valueQuantity: { value: 60, unit: 'mm[Hg]' },
        },
      ],
    });
    expect(panel.status, JSON.stringify(panel.body)).toBe(201);
    await settle([panel.body.id]);
    const score = (await scores(patient)).at(-1);
    const sub = Object.fromEntries(score.component.map((c: any) => [c.code.coding[0].code, c.valueInteger]));
    // Scale 2 at 89 %: 0 (scale 1 would give 3); systolic 95: 2; 98.6 °F = 37 °C: 0.
    expect(sub).toMatchObject({ spo2: 0, 'systolic-bp': 2, temperature: 0 });
    expect(score.valueInteger).toBe(2);
    expect(score.method.text).toContain('scale 2');

    // A pulse of 700 is not a pulse: reported with why, never scored.
    const other = await newPatient();
    const { pulse: _pulse, ...others } = NORMAL_VITALS;
    const [wild] = await record(other, { pulse: 700, ...others });
    const ra = (await assessments(other)).at(-1);
    expect(ra.prediction).toBeUndefined();
    expect(ra.note.map((n: any) => n.text).join('\n')).toContain(
      `Missing pulse: Observation/${wild}: implausible value 700 /min`,
    );
  });

  it('a stream of one vital does not hide the others (more readings than the first search returns)', async () => {
    const patient = await newPatient();
    await record(patient, NORMAL_VITALS, 30);
    const stream = Array.from({ length: 55 }, (_, i) => vitalObservations(patient, { spo2: 97 }, 20 - i / 10)[0]);
    const res = await fhir(server, 'POST', '', vitalsTransaction(stream));
    expect(res.status).toBe(200);
    await settle(res.body.entry.map((e: any) => e.response.location.split('/')[1]));
    await record(patient, { rr: 26 });
    const score = (await scores(patient)).at(-1);
    expect(score.valueInteger).toBe(3);
    expect(score.derivedFrom).toHaveLength(7);
    expect(bandOf((await assessments(patient)).at(-1))).toBe('low-medium');
  }, 60_000);

  it('odd inputs through $execute are skipped or reported, never a failed run', async () => {
    const execute = async (body: unknown) => {
      const res = await fhir(server, 'POST', 'Device/bot-news2/$execute', body);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const out = Object.fromEntries(res.body.parameter.map((p: any) => [p.name, p.valueString ?? p.valueCode]));
      expect(out.outcome, JSON.stringify(out)).toBe('success');
      return JSON.parse(out.result);
    };
    const [pulse] = vitalObservations('Patient/x', { pulse: 150 });
    // A NUL byte never reaches the bot: the server refuses the input.
    const nul = { ...pulse, subject: { reference: 'Patient/a\u0000b' } };
    expect((await fhir(server, 'POST', 'Device/bot-news2/$execute', nul)).status).toBe(400);
    for (const reference of ['Group/ward-7', 'http://elsewhere.example/fhir/Patient/1', 'Patient/', 'Patient/a/b']) {
      expect(await execute({ ...pulse, subject: { reference } })).toMatchObject({ outcome: 'skipped' });
    }
    expect(await execute({ ...pulse, subject: undefined })).toMatchObject({ outcome: 'skipped' });
    // A patient without any stored reading: every parameter missing, reported (the input itself was never stored).
    const patient = await newPatient();
    const incomplete = await execute({ ...pulse, subject: { reference: patient } });
    expect(incomplete).toMatchObject({ outcome: 'incomplete' });
    expect(incomplete.missing).toHaveLength(7);
  });
});
