import type {
  Bundle,
  CareTeam,
  Flag,
  Goal,
  Observation,
  Reference,
  Resource,
  RiskAssessment,
} from '@medplum/fhirtypes';
import type { BotFhirClient, BotHandler, BotRegistration } from '../types.ts';
import { membersOf } from './care-team.ts';
import { PARAMETERS, scoreNews2, type Parameter } from './news2-chart.ts';
import { assembleInputs, LOINC, PARAMETER_CODES, readValue, USABLE_STATUSES } from './news2-inputs.ts';
import { decide, NEWS2_SYSTEM, RISK_SYSTEM, type Decision } from './news2-output.ts';

const BOT = 'news2';
const ALL_CODES = PARAMETERS.flatMap((p) => PARAMETER_CODES[p]);
/** Readings looked at in the first search (all parameters), and per parameter missing from it. */
const FIRST_PAGE = 50;
const PER_PARAMETER = 5;
const DEFAULT_WINDOW_HOURS = 24;
/** Recomputations of one run when a concurrent run changed the patient's NEWS2 state first. */
const MAX_ATTEMPTS = 3;

export const registration: BotRegistration = {
  name: BOT,
  description:
    'NEWS2 (RCP 2017) for a patient whenever one of its vital signs arrives: score Observation, RiskAssessment, and for medium/high a Flag and a Communication to the care team.',
  triggers: [`Observation?code=${ALL_CODES.map((c) => `${LOINC}|${c}`).join(',')}`],
  scopes:
    'system/Observation.crs system/RiskAssessment.crs system/Flag.crus system/Communication.crs system/Goal.rs system/CareTeam.rs',
  timeoutMs: 15_000,
  maxAttempts: 5,
};

/**
 * The window in which a reading counts (`NEWS2_WINDOW_HOURS`, default 24): an older newest reading is stale. Read in
 * the bot's thread, which sees the server's environment.
 */
export function windowMs(env: NodeJS.ProcessEnv = process.env): number {
  const hours = Number(env.NEWS2_WINDOW_HOURS ?? DEFAULT_WINDOW_HOURS);
  return (Number.isFinite(hours) && hours > 0 ? hours : DEFAULT_WINDOW_HOURS) * 3_600_000;
}

/**
 * Recomputes the patient's NEWS2 from the newest reading of each parameter and writes what changed (news2-output.ts)
 * in one transaction. The triggering Observation only says whose score to recompute; a reading that arrives late is
 * weighed by its own time like every other.
 */
export const handler: BotHandler<Observation> = async ({ resource, fhir, log }) => {
  const patient = patientOf(resource?.subject);
  if (!patient) return { outcome: 'skipped', reason: 'the Observation has no Patient subject' };
  // A concurrent run (another vital of the same set) may close the same Flag first: its version check fails the
  // transaction (412), and the recomputation then sees what that run wrote.
  for (let attempt = 1; ; attempt++) {
    const decision = await assess(fhir, patient);
    const { transaction, ...result } = decision;
    if (!transaction) return result;
    const answer = await fhir.request<Bundle>('POST', '', transaction);
    if ((answer.status === 412 || answer.status === 409) && attempt < MAX_ATTEMPTS) continue;
    if (answer.status >= 400) throw new Error(`the NEWS2 transaction failed with ${answer.status}`);
    const written = (answer.resource?.entry ?? []).map((e) => `${e.response?.status} ${e.response?.location ?? ''}`);
    log(`${patient}: ${decision.outcome} ${result.total ?? ''} ${result.band ?? ''}`.trim(), written);
    return result;
  }
};

/**
 * Reads what NEWS2 needs of the patient now and decides what to write. The Flags and the care team are read only
 * when the band changed (the only time they are written to or about), which keeps the common run to three searches.
 */
async function assess(fhir: BotFhirClient, patient: string): Promise<Decision> {
  const now = new Date();
  const [observations, goals, assessments] = await Promise.all([
    latestReadings(fhir, patient),
    all<Goal>(fhir, 'Goal', { patient, 'lifecycle-status': 'active', _count: '50' }),
    all<RiskAssessment>(fhir, 'RiskAssessment', {
      subject: patient,
      method: `${NEWS2_SYSTEM}|total`,
      _sort: '-_lastUpdated',
      _count: '20',
    }),
  ]);
  const assembled = assembleInputs(observations, goals, now, windowMs());
  const context = {
    patient,
    now,
    bot: `Device/bot-${BOT}`,
    assembled,
    score: assembled.values ? scoreNews2(assembled.values) : undefined,
    latest: assessments[0],
    lastScored: assessments.find((a) => a.prediction?.length),
  };
  const first = decide({ ...context, activeFlags: [], recipients: [] });
  if (!first.bandChanged) return first;
  const [flags, teams] = await Promise.all([
    all<Flag>(fhir, 'Flag', { patient, author: `Device/bot-${BOT}`, _count: '50' }),
    all<CareTeam>(fhir, 'CareTeam', { subject: patient, status: 'active', _count: '20' }),
  ]);
  return decide({
    ...context,
    activeFlags: flags.filter((f) => f.status === 'active' && f.code?.coding?.some((c) => c.system === RISK_SYSTEM)),
    recipients: membersOf(teams, now),
  });
}

/**
 * `Patient/<id>` of a relative subject reference, else undefined: an absolute one may name another server's patient,
 * whose id means nothing here.
 */
function patientOf(subject: Reference | undefined): string | undefined {
  const match = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(subject?.reference ?? '');
  return match ? `Patient/${match[1]}` : undefined;
}

/**
 * The newest readings of the patient: one search over all input codes, then, for a parameter that page does not
 * hold (a stream of one vital can fill it), a search of its own — so no parameter is hidden by another.
 */
async function latestReadings(fhir: BotFhirClient, patient: string): Promise<Observation[]> {
  const search = (codes: string[], count: number) =>
    all<Observation>(fhir, 'Observation', {
      subject: patient,
      code: codes.map((c) => `${LOINC}|${c}`).join(','),
      status: USABLE_STATUSES.join(','),
      _sort: '-date',
      _count: String(count),
    });
  const page = await search(ALL_CODES, FIRST_PAGE);
  const has = (p: Parameter) =>
    page.some(
      (o) =>
        o.code?.coding?.some((c) => c.system === LOINC && PARAMETER_CODES[p].includes(c.code ?? '')) &&
        'value' in readValue(p, o),
    );
  const more = await Promise.all(
    PARAMETERS.filter((p) => !has(p)).map((p) => search(PARAMETER_CODES[p], PER_PARAMETER)),
  );
  const seen = new Set<string>();
  return [...page, ...more.flat()].filter((o) => !seen.has(o.id!) && seen.add(o.id!));
}

async function all<T extends Resource>(fhir: BotFhirClient, type: string, query: Record<string, string>): Promise<T[]> {
  const bundle = await fhir.search<T>(type, query);
  return (bundle.entry ?? []).flatMap((e) => (e.resource && e.search?.mode !== 'include' ? [e.resource] : []));
}
