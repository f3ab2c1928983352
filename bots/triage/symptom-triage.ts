import type {
  Bundle,
  BundleEntry,
  Communication,
  QuestionnaireResponse,
  RiskAssessment,
  Schedule,
  Slot,
} from '@medplum/fhirtypes';
import type { BotFhirClient, BotHandler, BotRegistration } from '../types.ts';
import { careTeamMembers, type Recipient } from './care-team.ts';
import { SOURCES } from './symptom-checkins.ts';
import {
  checkInOf,
  QUESTIONNAIRE_VERSION,
  scoreResponse,
  TRIAGE_DISPLAY,
  TRIAGE_SYSTEM,
  type TriageBand,
  type TriageResult,
} from './symptom-scoring.ts';

const BOT = 'symptom-triage';
/** One assessment per response version: a retried run writes nothing twice. */
export const TRIAGE_ID = 'https://tributary.dev/fhir/NamingSystem/symptom-triage';
const COMMUNICATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/communication-category';
/** Free Slots a moderate check-in proposes. */
const SLOTS_PROPOSED = 3;

export const registration: BotRegistration = {
  name: BOT,
  description:
    'Scores a completed symptom check-in (fever, chest pain, shortness of breath, abdominal pain, headache, rash) 0–100 with red-flag overrides: a RiskAssessment; moderate proposes free Slots, serious/critical alerts the care team.',
  triggers: ['QuestionnaireResponse?status=completed,amended'],
  scopes: 'system/RiskAssessment.crs system/Communication.crs system/Slot.rs system/Schedule.rs system/CareTeam.rs',
  timeoutMs: 15_000,
  maxAttempts: 5,
};

export const ADVICE: Record<TriageBand, string> = {
  mild: 'Home care: rest, drink fluids, and use the advice for this symptom. Check in again if it gets worse or does not improve in 48 hours.',
  moderate: 'See a clinician within the next day or two: a free appointment is proposed.',
  'serious-critical':
    'Get urgent care now: go to an emergency department or call the emergency number. Do not wait for an appointment.',
};

/**
 * Scores a QuestionnaireResponse to one of the shipped check-ins (others are skipped) and writes, in one transaction:
 * the RiskAssessment; for moderate, a Communication to the patient proposing the next free Slots with a practitioner;
 * for serious/critical, an urgent alert Communication to the care team.
 */
export const handler: BotHandler<QuestionnaireResponse> = async ({ resource, fhir, log }) => {
  const checkIn = resource && checkInOf(resource);
  if (!resource || !checkIn) return { outcome: 'skipped', reason: 'not a symptom check-in' };
  const patient = /^(Patient\/[A-Za-z0-9\-.]{1,64})$/.exec(resource.subject?.reference ?? '')?.[1];
  if (!patient) return { outcome: 'skipped', reason: 'the response has no Patient subject' };
  const result = scoreResponse(checkIn, resource);
  const now = new Date();
  const version = `QuestionnaireResponse/${resource.id}/_history/${resource.meta?.versionId ?? '1'}`;
  const assessmentUrl = 'urn:uuid:' + crypto.randomUUID();
  const entries: BundleEntry[] = [
    conditional(assessmentUrl, assessment(checkIn.title, patient, version, result, now), 'RiskAssessment', version),
  ];
  let slots: Slot[] = [];
  if (result.band === 'moderate') {
    slots = await freeSlots(fhir, now);
    entries.push(conditional(newUrl(), proposal(patient, assessmentUrl, slots, now), 'Communication', version));
  } else if (result.band === 'serious-critical') {
    const recipients = await careTeamMembers(fhir, patient, now);
    entries.push(
      conditional(
        newUrl(),
        alert(checkIn.title, patient, assessmentUrl, result, recipients, now),
        'Communication',
        version,
      ),
    );
  }
  const answer = await fhir.request<Bundle>('POST', '', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: entries,
  });
  if (answer.status >= 400) throw new Error(`the symptom triage transaction failed with ${answer.status}`);
  log(`${version}: ${result.score}/100 ${result.band}${result.redFlags.length ? ' (red flag)' : ''}`);
  return {
    outcome: 'scored',
    checkIn: checkIn.name,
    score: result.score,
    band: result.band,
    redFlags: result.redFlags.map((f) => f.id),
    unanswered: result.unanswered,
    slots: slots.map((s) => `Slot/${s.id}`),
  };
};

const newUrl = () => 'urn:uuid:' + crypto.randomUUID();

function conditional(
  fullUrl: string,
  resource: RiskAssessment | Communication,
  type: string,
  key: string,
): BundleEntry {
  return {
    fullUrl,
    resource: { ...resource, identifier: [{ system: TRIAGE_ID, value: key }] },
    request: { method: 'POST', url: type, ifNoneExist: `identifier=${TRIAGE_ID}|${key}` },
  };
}

function assessment(title: string, patient: string, version: string, r: TriageResult, now: Date): RiskAssessment {
  const notes = [
    `${title} ${QUESTIONNAIRE_VERSION}: score ${r.score}/100 (${r.points} points, ${r.scoreBand} by score).`,
    ...r.redFlags.map((f) => `Red flag: ${f.text} (${SOURCES[f.source]}).`),
    ...(r.unanswered.length ? [`Unanswered (no points): ${r.unanswered.join(', ')}.`] : []),
  ];
  return {
    resourceType: 'RiskAssessment',
    status: 'final',
    subject: { reference: patient },
    occurrenceDateTime: now.toISOString(),
    method: { coding: [{ system: TRIAGE_SYSTEM, code: 'check-in' }], text: `Symptom check-in: ${title}` },
    basis: [{ reference: version }],
    prediction: [
      {
        outcome: { text: 'Need for urgent care' },
        qualitativeRisk: {
          coding: [{ system: TRIAGE_SYSTEM, code: r.band, display: TRIAGE_DISPLAY[r.band] }],
          text: `${r.score}/100`,
        },
        rationale: r.redFlags.length ? `Red flag: ${r.redFlags.map((f) => f.text).join('; ')}` : `Score ${r.score}/100`,
      },
    ],
    mitigation: ADVICE[r.band],
    note: notes.map((text) => ({ text })),
  };
}

function proposal(patient: string, assessmentUrl: string, slots: Slot[], now: Date): Communication {
  const times = slots.map((s) => s.start).join(', ');
  return {
    resourceType: 'Communication',
    status: 'completed',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY, code: 'notification' }] }],
    priority: 'routine',
    subject: { reference: patient },
    recipient: [{ reference: patient }],
    about: [{ reference: assessmentUrl }],
    sent: now.toISOString(),
    payload: [
      {
        contentString: slots.length
          ? `${ADVICE.moderate} Free appointments: ${times}.`
          : `${ADVICE.moderate} No free appointment was found: please call the practice.`,
      },
      ...slots.map((s) => ({ contentReference: { reference: `Slot/${s.id}`, display: s.start } })),
    ],
  };
}

function alert(
  title: string,
  patient: string,
  assessmentUrl: string,
  r: TriageResult,
  recipients: Recipient[],
  now: Date,
): Communication {
  const why = r.redFlags.length ? `red flag: ${r.redFlags.map((f) => f.text).join('; ')}` : `score ${r.score}/100`;
  return {
    resourceType: 'Communication',
    status: 'completed',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY, code: 'alert', display: 'Alert' }] }],
    priority: 'urgent',
    subject: { reference: patient },
    recipient: recipients.length ? recipients : undefined,
    about: [{ reference: assessmentUrl }],
    sent: now.toISOString(),
    payload: [{ contentString: `${title}: serious/critical for ${patient} (${why}). ${ADVICE['serious-critical']}` }],
  };
}

/** The next free Slots from now on a Schedule of a practitioner (Practitioner or PractitionerRole). */
async function freeSlots(fhir: BotFhirClient, now: Date): Promise<Slot[]> {
  const bundle = await fhir.search('Slot', {
    status: 'free',
    start: `ge${now.toISOString()}`,
    _sort: 'start',
    _count: '50',
    _include: 'Slot:schedule',
  });
  const entries = bundle.entry ?? [];
  const withPractitioner = new Set(
    entries
      .map((e) => e.resource)
      .filter((r): r is Schedule => r?.resourceType === 'Schedule')
      .filter(
        (s) => s.active !== false && s.actor.some((a) => /^(Practitioner|PractitionerRole)\//.test(a.reference ?? '')),
      )
      .map((s) => `Schedule/${s.id}`),
  );
  return entries
    .map((e) => e.resource)
    .filter((r): r is Slot => r?.resourceType === 'Slot' && withPractitioner.has(r.schedule.reference ?? ''))
    .slice(0, SLOTS_PROPOSED);
}
