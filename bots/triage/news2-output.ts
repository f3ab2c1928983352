import type {
  Bundle,
  BundleEntry,
  Communication,
  Flag,
  Observation,
  Reference,
  Resource,
  RiskAssessment,
} from '@medplum/fhirtypes';
import { createHash, randomUUID } from 'node:crypto';
import { CLINICAL_RESPONSE, PARAMETERS, type Band, type News2Score } from './news2-chart.ts';
import type { Recipient } from './care-team.ts';
import type { AssembledInputs, Reading } from './news2-inputs.ts';

export const NEWS2_SYSTEM = 'https://tributary.dev/fhir/CodeSystem/news2';
export const RISK_SYSTEM = 'https://tributary.dev/fhir/CodeSystem/news2-risk';
/** One per assessment (and its score Observation): a retried or concurrent run with the same outcome writes nothing. */
export const ASSESSMENT_ID = 'https://tributary.dev/fhir/NamingSystem/news2-assessment';
/** The outcome an assessment records (sub-scores, or what was missing): equal outcomes are not written twice. */
export const OUTCOME_ID = 'https://tributary.dev/fhir/NamingSystem/news2-outcome';
/** One per change of band: the Flag and the Communication of an alert. */
export const ALERT_ID = 'https://tributary.dev/fhir/NamingSystem/news2-alert';
/** SNOMED CT UK edition: Royal College of Physicians NEWS2 (National Early Warning Score 2) total score. */
export const SNOMED_NEWS2_TOTAL = '1104051000000101';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const COMMUNICATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/communication-category';
const FLAG_CATEGORY = 'http://terminology.hl7.org/CodeSystem/flag-category';

export const BAND_DISPLAY: Record<Band, string> = {
  low: 'Low',
  'low-medium': 'Low–medium (3 in one parameter)',
  medium: 'Medium',
  high: 'High',
};
const PARAMETER_DISPLAY: Record<(typeof PARAMETERS)[number], string> = {
  'respiration-rate': 'Respiration rate',
  spo2: 'SpO2',
  'air-or-oxygen': 'Air or oxygen',
  'systolic-bp': 'Systolic blood pressure',
  pulse: 'Pulse',
  consciousness: 'Consciousness',
  temperature: 'Temperature',
};

/** What the bot knows when it writes: the patient, the time, its own identity and the previous assessments. */
export interface AssessmentContext {
  patient: string;
  now: Date;
  bot: string;
  /** The newest NEWS2 RiskAssessment of the patient (scored or not). */
  latest?: RiskAssessment;
  /** The newest scored one (its band is the one a change is measured against). */
  lastScored?: RiskAssessment;
  /** Active NEWS2 Flags of the patient (closed when the band changes). */
  activeFlags: Flag[];
  /** The patient's care team members (Communication recipients). */
  recipients: Recipient[];
}

/** What the run decided. */
export interface Decision {
  outcome: 'scored' | 'incomplete' | 'unchanged';
  total?: number;
  band?: Band;
  previousBand?: Band;
  alert: boolean;
  /** The band differs from the last scored one: active Flags are closed, and medium/high alert the care team. */
  bandChanged: boolean;
  missing: string[];
  stale: string[];
  transaction?: Bundle;
}

/** FHIR has no empty arrays: an empty list is left out. */
const nonEmpty = <T>(list: T[]) => (list.length ? list : undefined);
const hash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);
const ref = (r: Reading): Reference<Observation> => ({ reference: `Observation/${r.observation.id}` });
const identifierOf = (r: Resource | undefined, system: string) =>
  (r as RiskAssessment | undefined)?.identifier?.find((i) => i.system === system)?.value;

/** The band a RiskAssessment of this bot recorded. */
export function bandOfAssessment(ra: RiskAssessment | undefined): Band | undefined {
  return ra?.prediction?.[0]?.qualitativeRisk?.coding?.find((c) => c.system === RISK_SYSTEM)?.code as Band | undefined;
}

/**
 * Decides what a recomputation writes, as one transaction: nothing when the outcome equals the latest assessment's;
 * else the score Observation (when all seven parameters are there) and the RiskAssessment; when the band changed,
 * the active NEWS2 Flags closed and, for medium and high, a new Flag and a Communication to the care team. Every
 * create is conditional on its identifier, so a retried or concurrent run cannot write an assessment or an alert
 * twice.
 */
export function decide(inputs: AssessmentContext & { assembled: AssembledInputs; score?: News2Score }): Decision {
  const { assembled, score, patient } = inputs;
  const missing = assembled.missing.map((m) => `${m.parameter} (${m.reason})`);
  const stale = assembled.stale.map((s) => `${s.parameter} (last ${s.at}, Observation/${s.observation.id})`);
  const outcomeKey = hash(
    score
      ? { patient, scale2: assembled.scale2, subScores: score.subScores }
      : { patient, missing: assembled.missing.map((m) => m.parameter), stale: assembled.stale.map((s) => s.parameter) },
  );
  const previousBand = bandOfAssessment(inputs.lastScored);
  const base = { total: score?.total, band: score?.band, previousBand, missing, stale };
  if (identifierOf(inputs.latest, OUTCOME_ID) === outcomeKey)
    return { ...base, outcome: 'unchanged', alert: false, bandChanged: false };

  const assessmentKey = hash({ outcomeKey, after: inputs.latest?.id ?? null });
  const entries: BundleEntry[] = [];
  const observationUrl = `urn:uuid:${randomUUID()}`;
  const assessmentUrl = `urn:uuid:${randomUUID()}`;
  const used = Object.values(assembled.readings);
  if (score) entries.push(create(observationUrl, scoreObservation(inputs, used, score, assessmentKey), ASSESSMENT_ID));
  entries.push(create(assessmentUrl, riskAssessment(inputs, used, score, [assessmentKey, outcomeKey]), ASSESSMENT_ID));

  const bandChanged = score !== undefined && score.band !== previousBand;
  const alert = bandChanged && (score.band === 'medium' || score.band === 'high');
  if (bandChanged) {
    for (const flag of inputs.activeFlags) {
      entries.push({
        resource: { ...flag, status: 'inactive', period: { ...flag.period, end: inputs.now.toISOString() } },
        request: { method: 'PUT', url: `Flag/${flag.id}`, ifMatch: `W/"${flag.meta?.versionId}"` },
      });
    }
  }
  if (alert) {
    const alertKey = hash({ patient, band: score.band, after: inputs.lastScored?.id ?? null });
    entries.push(create(`urn:uuid:${randomUUID()}`, flagOf(inputs, score, alertKey), ALERT_ID));
    entries.push(create(`urn:uuid:${randomUUID()}`, communicationOf(inputs, score, alertKey, assessmentUrl), ALERT_ID));
  }
  const transaction: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: entries };
  return { ...base, outcome: score ? 'scored' : 'incomplete', alert, bandChanged, transaction };
}

function create(
  fullUrl: string,
  resource: Resource & { identifier?: { system?: string; value?: string }[] },
  system: string,
): BundleEntry {
  const value = resource.identifier?.find((i) => i.system === system)?.value;
  return {
    fullUrl,
    resource,
    request: { method: 'POST', url: resource.resourceType, ifNoneExist: `identifier=${system}|${value}` },
  };
}

function scoreObservation(
  ctx: AssessmentContext & { assembled: AssembledInputs },
  used: Reading[],
  score: News2Score,
  key: string,
): Observation {
  const latestInput = used.map((r) => r.at).sort((a, b) => Date.parse(b) - Date.parse(a))[0];
  return {
    resourceType: 'Observation',
    identifier: [{ system: ASSESSMENT_ID, value: key }],
    status: 'final',
    category: [{ coding: [{ system: CATEGORY, code: 'survey', display: 'Survey' }] }],
    code: {
      coding: [
        { system: NEWS2_SYSTEM, code: 'total', display: 'NEWS2 total score' },
        {
          system: 'http://snomed.info/sct',
          code: SNOMED_NEWS2_TOTAL,
          display: 'Royal College of Physicians NEWS2 (National Early Warning Score 2) total score',
        },
      ],
      text: 'NEWS2',
    },
    subject: { reference: ctx.patient },
    effectiveDateTime: latestInput,
    issued: ctx.now.toISOString(),
    performer: [{ reference: ctx.bot }],
    valueInteger: score.total,
    method: { text: `RCP NEWS2 (2017), SpO2 scale ${ctx.assembled.scale2 ? 2 : 1}` },
    derivedFrom: used.map(ref),
    component: PARAMETERS.map((p) => ({
      code: { coding: [{ system: NEWS2_SYSTEM, code: p, display: `${PARAMETER_DISPLAY[p]} score` }] },
      valueInteger: score.subScores[p],
    })),
  };
}

function riskAssessment(
  ctx: AssessmentContext & { assembled: AssembledInputs },
  used: Reading[],
  score: News2Score | undefined,
  [assessmentKey, outcomeKey]: string[],
): RiskAssessment {
  const { missing, stale, scale2 } = ctx.assembled;
  const notes = score
    ? [
        `NEWS2 ${score.total} (${BAND_DISPLAY[score.band]}), SpO2 scale ${scale2 ? 2 : 1}. ${CLINICAL_RESPONSE[score.band]}`,
      ]
    : [
        'NEWS2 not scored: all seven parameters are needed within the window.',
        ...missing.map((m) => `Missing ${PARAMETER_DISPLAY[m.parameter].toLowerCase()}: ${m.reason}.`),
        ...stale.map(
          (s) =>
            `Stale ${PARAMETER_DISPLAY[s.parameter].toLowerCase()}: last taken ${s.at} (Observation/${s.observation.id}).`,
        ),
      ];
  return {
    resourceType: 'RiskAssessment',
    identifier: [
      { system: ASSESSMENT_ID, value: assessmentKey },
      { system: OUTCOME_ID, value: outcomeKey },
    ],
    status: 'final',
    subject: { reference: ctx.patient },
    occurrenceDateTime: ctx.now.toISOString(),
    method: { coding: [{ system: NEWS2_SYSTEM, code: 'total', display: 'NEWS2 total score' }], text: 'NEWS2' },
    performer: { reference: ctx.bot },
    basis: nonEmpty([
      ...used.map(ref),
      ...stale.map((s) => ({ ...ref(s), display: `stale ${s.parameter}, taken ${s.at}` })),
    ]),
    prediction: score
      ? [
          {
            outcome: { text: 'Acute clinical deterioration' },
            qualitativeRisk: {
              coding: [{ system: RISK_SYSTEM, code: score.band, display: BAND_DISPLAY[score.band] }],
              text: `NEWS2 ${score.total}`,
            },
            rationale: CLINICAL_RESPONSE[score.band],
          },
        ]
      : undefined,
    note: notes.map((text) => ({ text })),
  };
}

function flagOf(ctx: AssessmentContext, score: News2Score, key: string): Flag {
  return {
    resourceType: 'Flag',
    identifier: [{ system: ALERT_ID, value: key }],
    status: 'active',
    category: [{ coding: [{ system: FLAG_CATEGORY, code: 'clinical', display: 'Clinical' }] }],
    code: {
      coding: [{ system: RISK_SYSTEM, code: score.band, display: BAND_DISPLAY[score.band] }],
      text: `NEWS2 ${score.total}: ${BAND_DISPLAY[score.band].toLowerCase()} risk`,
    },
    subject: { reference: ctx.patient },
    period: { start: ctx.now.toISOString() },
    author: { reference: ctx.bot },
  };
}

function communicationOf(ctx: AssessmentContext, score: News2Score, key: string, assessment: string): Communication {
  const parts = PARAMETERS.filter((p) => score.subScores[p] > 0).map(
    (p) => `${PARAMETER_DISPLAY[p]} ${score.subScores[p]}`,
  );
  return {
    resourceType: 'Communication',
    identifier: [{ system: ALERT_ID, value: key }],
    status: 'completed',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY, code: 'alert', display: 'Alert' }] }],
    priority: score.band === 'high' ? 'urgent' : 'routine',
    subject: { reference: ctx.patient },
    about: [{ reference: assessment }],
    recipient: ctx.recipients.length ? ctx.recipients : undefined,
    sender: { reference: ctx.bot },
    sent: ctx.now.toISOString(),
    payload: [
      {
        contentString: `NEWS2 ${score.total} (${BAND_DISPLAY[score.band]}) for ${ctx.patient}: ${parts.join(', ')}. ${CLINICAL_RESPONSE[score.band]}`,
      },
    ],
  };
}
