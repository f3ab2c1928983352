import type {
  Bundle,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItemAnswer,
} from '@medplum/fhirtypes';
import { CHECK_INS, type CheckIn, type Condition, type Question, type RedFlag } from './symptom-checkins.ts';

export const QUESTIONNAIRE_BASE = 'https://tributary.dev/fhir/Questionnaire';
export const QUESTIONNAIRE_VERSION = '1.0.0';
export const TRIAGE_SYSTEM = 'https://tributary.dev/fhir/CodeSystem/symptom-triage';
const LOINC = 'http://loinc.org';
const YES = { system: LOINC, code: 'LA33-6', display: 'Yes' };
const NO = { system: LOINC, code: 'LA32-8', display: 'No' };
const ORDINAL = 'http://hl7.org/fhir/StructureDefinition/ordinalValue';
const MIN = 'http://hl7.org/fhir/StructureDefinition/minValue';
const MAX = 'http://hl7.org/fhir/StructureDefinition/maxValue';
const UNIT = 'http://hl7.org/fhir/StructureDefinition/questionnaire-unit';
/** Each point is 5 on the 0–100 scale (capped): 0–5 points mild, 6–10 moderate, 11 or more serious/critical. */
const SCALE = 5;

export type TriageBand = 'mild' | 'moderate' | 'serious-critical';
export const TRIAGE_DISPLAY: Record<TriageBand, string> = {
  mild: 'Mild: home care advice',
  moderate: 'Moderate: see a clinician soon',
  'serious-critical': 'Serious/critical: urgent care now',
};

/** The canonical URL of a check-in's Questionnaire. */
export const canonicalOf = (c: CheckIn) => `${QUESTIONNAIRE_BASE}/symptom-${c.name}`;

/** The check-in a QuestionnaireResponse answers (its `questionnaire`, with or without `|version`). */
export function checkInOf(response: QuestionnaireResponse): CheckIn | undefined {
  const url = response.questionnaire?.split('|')[0];
  return CHECK_INS.find((c) => canonicalOf(c) === url);
}

/**
 * A check-in as an SDC-style Questionnaire: yes/no questions are `choice` items with LOINC Yes/No answer options
 * whose `ordinalValue` is the points they add; numbers are `integer`/`decimal` with `minValue`/`maxValue` (and
 * `questionnaire-unit`). Every question is required.
 */
export function questionnaireOf(c: CheckIn): Questionnaire {
  return {
    resourceType: 'Questionnaire',
    id: `symptom-${c.name}`,
    url: canonicalOf(c),
    version: QUESTIONNAIRE_VERSION,
    name: `SymptomCheckIn${c.name.replace(/(^|-)(\w)/g, (_, __, ch: string) => ch.toUpperCase())}`,
    title: c.title,
    status: 'active',
    subjectType: ['Patient'],
    publisher: 'Tributary',
    description: `${c.title}: scored 0–100 (mild 0–25, moderate 26–50, serious/critical 51–100); red-flag answers make it serious/critical. Sources: bots/triage/README.md.`,
    item: c.questions.map(itemOf),
  };
}

function itemOf(q: Question): QuestionnaireItem {
  if (q.type === 'yes-no') {
    return {
      linkId: q.id,
      text: q.text,
      type: 'choice',
      required: true,
      answerOption: [
        { valueCoding: { ...YES, extension: [{ url: ORDINAL, valueDecimal: q.points }] } },
        { valueCoding: { ...NO, extension: [{ url: ORDINAL, valueDecimal: 0 }] } },
      ],
    };
  }
  const value = (n: number) => (q.type === 'integer' ? { valueInteger: n } : { valueDecimal: n });
  return {
    linkId: q.id,
    text: q.text,
    type: q.type,
    required: true,
    extension: [
      { url: MIN, ...value(q.min) },
      { url: MAX, ...value(q.max) },
      ...(q.unit
        ? [{ url: UNIT, valueCoding: { system: 'http://unitsofmeasure.org', code: q.unit, display: q.unit } }]
        : []),
    ],
  };
}

/** A transaction that creates or updates the six Questionnaires (PUT by id): how an operator installs them. */
export function questionnaireBundle(): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: CHECK_INS.map((c) => ({
      resource: questionnaireOf(c),
      request: { method: 'PUT', url: `Questionnaire/symptom-${c.name}` },
    })),
  };
}

export interface TriageResult {
  score: number;
  points: number;
  band: TriageBand;
  /** The band the score alone gives (before red flags). */
  scoreBand: TriageBand;
  redFlags: RedFlag[];
  /** Questions without a usable answer (they add nothing). */
  unanswered: string[];
}

/** The band of a 0–100 score. */
export function bandOfScore(score: number): TriageBand {
  return score >= 51 ? 'serious-critical' : score >= 26 ? 'moderate' : 'mild';
}

/** Scores a response: the points of every answer, scaled to 0–100, then the red flags. */
export function scoreResponse(c: CheckIn, response: QuestionnaireResponse): TriageResult {
  const answers = answersOf(response);
  let points = 0;
  const unanswered: string[] = [];
  for (const q of c.questions) {
    const answer = answers.get(q.id);
    const p = answer === undefined ? undefined : pointsOf(q, answer);
    if (p === undefined) unanswered.push(q.id);
    else points += p;
  }
  const score = Math.min(100, points * SCALE);
  const redFlags = c.redFlags.filter((f) => f.when.every((w) => holds(w, answers, c)));
  const scoreBand = bandOfScore(score);
  return { score, points, scoreBand, band: redFlags.length ? 'serious-critical' : scoreBand, redFlags, unanswered };
}

/** The first answer of every item, nested ones included, by linkId. */
function answersOf(response: QuestionnaireResponse): Map<string, QuestionnaireResponseItemAnswer> {
  const out = new Map<string, QuestionnaireResponseItemAnswer>();
  const walk = (items: QuestionnaireResponse['item']) => {
    for (const item of items ?? []) {
      if (item.answer?.[0] && !out.has(item.linkId)) out.set(item.linkId, item.answer[0]);
      walk(item.item);
      for (const a of item.answer ?? []) walk(a.item);
    }
  };
  walk(response.item);
  return out;
}

/** true/false for a yes/no answer (LOINC Yes/No or a boolean), else undefined. */
function yesNo(a: QuestionnaireResponseItemAnswer): boolean | undefined {
  if (typeof a.valueBoolean === 'boolean') return a.valueBoolean;
  if (a.valueCoding?.code === YES.code) return true;
  if (a.valueCoding?.code === NO.code) return false;
  return undefined;
}

function numberOf(q: Question, a: QuestionnaireResponseItemAnswer): number | undefined {
  if (q.type === 'yes-no') return undefined;
  const n = a.valueInteger ?? a.valueDecimal ?? a.valueQuantity?.value;
  return typeof n === 'number' && Number.isFinite(n) && n >= q.min && n <= q.max ? n : undefined;
}

function pointsOf(q: Question, a: QuestionnaireResponseItemAnswer): number | undefined {
  if (q.type === 'yes-no') {
    const v = yesNo(a);
    return v === undefined ? undefined : v ? q.points : 0;
  }
  const n = numberOf(q, a);
  if (n === undefined) return undefined;
  const band = q.bands.find((b) => (b.atLeast !== undefined ? n >= b.atLeast : n < (b.below ?? -Infinity)));
  return band?.points ?? 0;
}

function holds(w: Condition, answers: Map<string, QuestionnaireResponseItemAnswer>, c: CheckIn): boolean {
  const a = answers.get(w.id);
  const q = c.questions.find((x) => x.id === w.id);
  if (!a || !q) return false;
  if ('yes' in w) return yesNo(a) === true;
  const n = numberOf(q, a);
  if (n === undefined) return false;
  return 'atLeast' in w ? n >= w.atLeast : n < w.below;
}
