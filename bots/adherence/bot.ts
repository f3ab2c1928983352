import type {
  Bundle,
  BundleEntry,
  CarePlan,
  CareTeam,
  Communication,
  Flag,
  Observation,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import type { BotFhirClient, BotHandler, BotRegistration } from '../types.ts';
import { expectedActivities, expectedCount, type ExpectedActivity } from './expected.ts';

/** Below this share of expected events the patient is flagged (PDC ≥ 80 %, the usual adherence threshold). */
export const ADHERENCE_THRESHOLD = 0.8;
export const ADHERENCE_SYSTEM = 'https://tributary.dev/fhir/CodeSystem/adherence';
/** Identifies the Flag, alert and summary of one patient's week, so a slot run twice writes nothing twice. */
export const WEEK_SYSTEM = 'https://tributary.dev/fhir/adherence-week';
const WINDOW_DAYS = 7;
const DAY_MS = 86_400_000;
const MAX_PLANS = 2000;

export const registration: BotRegistration = {
  name: 'adherence',
  description:
    'Weekly: for active CarePlans with scheduled medication or measurement activities, the expected MedicationAdministrations/Observations of the past 7 days against those that arrived; below 80 % a Flag and a Communication to the care team; an adherence summary Observation per patient.',
  schedule: '0 7 * * 1',
  scopes: [
    'system/CarePlan.rs',
    'system/CareTeam.r',
    'system/MedicationAdministration.rs',
    'system/Observation.crs',
    'system/Flag.crs',
    'system/Communication.c',
  ].join(' '),
  timeoutMs: 120_000,
  maxAttempts: 3,
};

interface ActivityResult {
  activity: ExpectedActivity;
  expected: number;
  arrived: number;
}

/**
 * The adherence run over the 7 days before the slot: per active CarePlan, each scheduled activity's expected count
 * against what arrived (MedicationAdministration `completed` of the drug, or Observation of the code, for the
 * patient, in the window); per patient one summary Observation (the share of expected events that arrived), and below
 * the threshold a Flag and a Communication to the plan's care team. One transaction per patient.
 */
export const handler: BotHandler = async ({ event, fhir, log }) => {
  const to = event.scheduledFor ? new Date(event.scheduledFor) : new Date();
  const from = new Date(to.getTime() - WINDOW_DAYS * DAY_MS);
  const week = from.toISOString().slice(0, 10);
  const plans = await search<CarePlan>(fhir, 'CarePlan', { status: 'active', _count: String(MAX_PLANS) });
  const byPatient = new Map<string, { plans: CarePlan[]; results: ActivityResult[] }>();
  for (const plan of plans) {
    const patient = plan.subject?.reference;
    if (!patient?.startsWith('Patient/')) continue;
    const activities = expectedActivities(plan.activity);
    if (!activities.length) continue;
    const entry = byPatient.get(patient) ?? { plans: [], results: [] };
    byPatient.set(patient, entry);
    entry.plans.push(plan);
    for (const activity of activities) {
      const expected = expectedCount(activity, from, to);
      if (expected > 0)
        entry.results.push({ activity, expected, arrived: await arrived(fhir, patient, activity, from, to) });
    }
  }
  let flagged = 0;
  let summaries = 0;
  for (const [patient, { plans: own, results }] of byPatient) {
    if (!results.length) continue;
    const key = `${patient}/${week}`;
    const done = await fhir.search('Observation', { identifier: `${WEEK_SYSTEM}|${key}`, _count: '1' });
    if (done.entry?.length) continue;
    const expected = results.reduce((n, r) => n + r.expected, 0);
    const got = results.reduce((n, r) => n + Math.min(r.arrived, r.expected), 0);
    const share = got / expected;
    const entries: BundleEntry[] = [post(summary(patient, key, own, results, share, from, to))];
    const missed = results.filter((r) => r.arrived < r.expected * ADHERENCE_THRESHOLD);
    if (share < ADHERENCE_THRESHOLD || missed.length) {
      const text = `Adherence ${Math.round(share * 100)} % over ${week}…${to.toISOString().slice(0, 10)}: ${missed
        .map((r) => `${r.activity.label} ${r.arrived}/${r.expected}`)
        .join(', ')}.`;
      entries.push(post(flag(patient, key, text, to)));
      entries.push(post(alert(patient, key, text, own, await careTeam(fhir, own), to)));
      flagged++;
    }
    const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: entries };
    await fhir.request('POST', '', bundle);
    summaries++;
  }
  log(`${plans.length} care plans; ${summaries} patient summaries, ${flagged} flagged`);
  return { carePlans: plans.length, summaries, flagged, week };
};

async function search<T extends Resource>(fhir: BotFhirClient, type: T['resourceType'], query: Record<string, string>) {
  return ((await fhir.search<T>(type, query)).entry ?? []).map((e) => e.resource).filter((r): r is T => !!r);
}

/** The events of an activity that arrived for the patient in the window. */
async function arrived(fhir: BotFhirClient, patient: string, activity: ExpectedActivity, from: Date, to: Date) {
  const code = activity.codes.map((c) => `${c.system}|${c.code}`).join(',');
  const window = [`ge${from.toISOString()}`, `lt${to.toISOString()}`];
  const query =
    activity.kind === 'medication'
      ? `subject=${enc(patient)}&code=${enc(code)}&status=completed&effective-time=${enc(window[0])}&effective-time=${enc(window[1])}&_summary=count`
      : `subject=${enc(patient)}&code=${enc(code)}&status=final,amended,corrected&date=${enc(window[0])}&date=${enc(window[1])}&_summary=count`;
  const type = activity.kind === 'medication' ? 'MedicationAdministration' : 'Observation';
  return (await fhir.search(type, query)).total ?? 0;
}

const enc = encodeURIComponent;
const post = (resource: Resource): BundleEntry => ({
  resource,
  request: { method: 'POST', url: resource.resourceType },
});

function summary(
  patient: string,
  key: string,
  plans: CarePlan[],
  results: ActivityResult[],
  share: number,
  from: Date,
  to: Date,
): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: WEEK_SYSTEM, value: key }],
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'therapy' }] }],
    code: { coding: [{ system: ADHERENCE_SYSTEM, code: 'weekly-summary', display: 'Weekly adherence summary' }] },
    subject: { reference: patient },
    basedOn: plans.map((p) => ({ reference: `CarePlan/${p.id}` })),
    effectivePeriod: { start: from.toISOString(), end: to.toISOString() },
    issued: to.toISOString(),
    valueQuantity: { value: Math.round(share * 1000) / 10, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
    component: results.map((r) => ({
      code: { coding: r.activity.codes, text: r.activity.label },
      valueRatio: { numerator: { value: r.arrived }, denominator: { value: r.expected } },
    })),
  };
}

function flag(patient: string, key: string, text: string, at: Date): Flag {
  return {
    resourceType: 'Flag',
    identifier: [{ system: WEEK_SYSTEM, value: key }],
    status: 'active',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical' }] }],
    code: { coding: [{ system: ADHERENCE_SYSTEM, code: 'low-adherence', display: 'Low adherence' }], text },
    subject: { reference: patient },
    period: { start: at.toISOString() },
    author: { reference: 'Device/bot-adherence' },
  };
}

function alert(
  patient: string,
  key: string,
  text: string,
  plans: CarePlan[],
  team: Reference[],
  at: Date,
): Communication {
  return {
    resourceType: 'Communication',
    identifier: [{ system: WEEK_SYSTEM, value: key }],
    status: 'completed',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'alert' }] }],
    subject: { reference: patient },
    about: plans.map((p) => ({ reference: `CarePlan/${p.id}` })),
    recipient: team as Communication['recipient'],
    sender: { reference: 'Device/bot-adherence' },
    sent: at.toISOString(),
    payload: [{ contentString: text }],
  };
}

/** The participants of the plans' care teams (members), else the plans' authors. */
async function careTeam(fhir: BotFhirClient, plans: CarePlan[]): Promise<Reference[]> {
  const members = new Map<string, Reference>();
  for (const plan of plans) {
    for (const ref of plan.careTeam ?? []) {
      const id = /^CareTeam\/([A-Za-z0-9\-.]{1,64})$/.exec(ref.reference ?? '')?.[1];
      const team = id ? await fhir.read<CareTeam>('CareTeam', id).catch(() => undefined) : undefined;
      for (const p of team?.participant ?? []) if (p.member?.reference) members.set(p.member.reference, p.member);
    }
    if (plan.author?.reference) members.set(plan.author.reference, plan.author);
  }
  return [...members.values()];
}
