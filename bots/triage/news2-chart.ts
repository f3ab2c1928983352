/**
 * The NEWS2 chart (Royal College of Physicians, National Early Warning Score 2, December 2017, "Chart 1: The NEWS
 * scoring system" and "Chart 2: NEWS thresholds and triggers") as pure functions: one per parameter, and the
 * aggregate band. Nothing here reads FHIR; `bots/triage/news2-inputs.ts` turns Observations into these numbers.
 *
 * The chart's rows are whole numbers (temperature: one decimal). A value between two rows is first rounded the way
 * it would be charted (Math.round; temperature to 0.1 °C) so that, e.g., a pulse of 90.4 scores as 90, not as 91–110.
 */

/** The seven parameters, as the component codes of `https://tributary.dev/fhir/CodeSystem/news2`. */
export const PARAMETERS = [
  'respiration-rate',
  'spo2',
  'air-or-oxygen',
  'systolic-bp',
  'pulse',
  'consciousness',
  'temperature',
] as const;
export type Parameter = (typeof PARAMETERS)[number];

/** ACVPU: Alert, or new Confusion, Voice, Pain, Unresponsive (all but Alert score 3). */
export type Consciousness = 'alert' | 'confusion' | 'voice' | 'pain' | 'unresponsive';

/** A complete set of NEWS2 inputs. */
export interface News2Values {
  respirationRate: number;
  spo2: number;
  /** Supplemental oxygen (any flow > 0 L/min or inspired fraction > 21 %). */
  onOxygen: boolean;
  systolicBp: number;
  pulse: number;
  consciousness: Consciousness;
  /** °C. */
  temperature: number;
  /** SpO2 scale 2 (hypercapnic respiratory failure, a prescribed target of 88–92 %). */
  scale2: boolean;
}

/** `low-medium` is a 3 in any one parameter with a total of at most 4 (the chart's "red score"). */
export type Band = 'low' | 'low-medium' | 'medium' | 'high';

export interface News2Score {
  total: number;
  band: Band;
  subScores: Record<Parameter, number>;
}

const whole = (v: number) => Math.round(v);

/** Respiration rate per minute: ≤8 → 3, 9–11 → 1, 12–20 → 0, 21–24 → 2, ≥25 → 3. */
export function respirationScore(rate: number): number {
  const v = whole(rate);
  if (v <= 8) return 3;
  if (v <= 11) return 1;
  if (v <= 20) return 0;
  if (v <= 24) return 2;
  return 3;
}

/** SpO2 scale 1 (%): ≤91 → 3, 92–93 → 2, 94–95 → 1, ≥96 → 0. */
export function spo2Scale1Score(spo2: number): number {
  const v = whole(spo2);
  if (v <= 91) return 3;
  if (v <= 93) return 2;
  if (v <= 95) return 1;
  return 0;
}

/**
 * SpO2 scale 2 (%): ≤83 → 3, 84–85 → 2, 86–87 → 1, 88–92 (and ≥93 on air) → 0; on oxygen 93–94 → 1, 95–96 → 2,
 * ≥97 → 3.
 */
export function spo2Scale2Score(spo2: number, onOxygen: boolean): number {
  const v = whole(spo2);
  if (v <= 83) return 3;
  if (v <= 85) return 2;
  if (v <= 87) return 1;
  if (v <= 92 || !onOxygen) return 0;
  if (v <= 94) return 1;
  if (v <= 96) return 2;
  return 3;
}

/** Air → 0, oxygen → 2. */
export function airOrOxygenScore(onOxygen: boolean): number {
  return onOxygen ? 2 : 0;
}

/** Systolic blood pressure (mmHg): ≤90 → 3, 91–100 → 2, 101–110 → 1, 111–219 → 0, ≥220 → 3. */
export function systolicScore(mmHg: number): number {
  const v = whole(mmHg);
  if (v <= 90) return 3;
  if (v <= 100) return 2;
  if (v <= 110) return 1;
  if (v <= 219) return 0;
  return 3;
}

/** Pulse per minute: ≤40 → 3, 41–50 → 1, 51–90 → 0, 91–110 → 1, 111–130 → 2, ≥131 → 3. */
export function pulseScore(rate: number): number {
  const v = whole(rate);
  if (v <= 40) return 3;
  if (v <= 50) return 1;
  if (v <= 90) return 0;
  if (v <= 110) return 1;
  if (v <= 130) return 2;
  return 3;
}

/** Alert → 0; new confusion, voice, pain or unresponsive → 3. */
export function consciousnessScore(level: Consciousness): number {
  return level === 'alert' ? 0 : 3;
}

/** Temperature (°C): ≤35.0 → 3, 35.1–36.0 → 1, 36.1–38.0 → 0, 38.1–39.0 → 1, ≥39.1 → 2. */
export function temperatureScore(celsius: number): number {
  const v = Math.round(celsius * 10);
  if (v <= 350) return 3;
  if (v <= 360) return 1;
  if (v <= 380) return 0;
  if (v <= 390) return 1;
  return 2;
}

/** Chart 2: 0–4 low (low-medium when one parameter scores 3), 5–6 medium, ≥7 high. */
export function bandOf(total: number, subScores: readonly number[]): Band {
  if (total >= 7) return 'high';
  if (total >= 5) return 'medium';
  return subScores.some((s) => s === 3) ? 'low-medium' : 'low';
}

/** Scores a complete set of inputs. */
export function scoreNews2(values: News2Values): News2Score {
  const subScores: Record<Parameter, number> = {
    'respiration-rate': respirationScore(values.respirationRate),
    spo2: values.scale2 ? spo2Scale2Score(values.spo2, values.onOxygen) : spo2Scale1Score(values.spo2),
    'air-or-oxygen': airOrOxygenScore(values.onOxygen),
    'systolic-bp': systolicScore(values.systolicBp),
    pulse: pulseScore(values.pulse),
    consciousness: consciousnessScore(values.consciousness),
    temperature: temperatureScore(values.temperature),
  };
  const total = Object.values(subScores).reduce((a, b) => a + b, 0);
  return { total, band: bandOf(total, Object.values(subScores)), subScores };
}

/** The chart's clinical response for each band (RCP 2017, Chart 2). */
export const CLINICAL_RESPONSE: Record<Band, string> = {
  low: 'Ward-based response: assessment by a competent registered nurse; minimum 12-hourly monitoring (4–6-hourly for a score of 1–4).',
  'low-medium':
    'Urgent ward-based response: a score of 3 in one parameter; registered nurse to inform the medical team, minimum 1-hourly monitoring.',
  medium:
    'Key threshold for urgent response: urgent review by a clinician competent in assessing acutely ill patients; minimum 1-hourly monitoring.',
  high: 'Urgent or emergency response: emergency assessment by a team with critical-care competencies; continuous monitoring of vital signs.',
};
