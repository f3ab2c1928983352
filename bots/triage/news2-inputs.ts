import type { Goal, Observation, Quantity } from '@medplum/fhirtypes';
import { PARAMETERS, type Consciousness, type News2Values, type Parameter } from './news2-chart.ts';

export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';

/** The LOINC codes each parameter is read from (issue 18); systolic BP also as a component of the BP panel 85354-9. */
export const PARAMETER_CODES: Record<Parameter, string[]> = {
  'respiration-rate': ['9279-1'],
  spo2: ['59408-5', '2708-6'],
  'air-or-oxygen': ['3151-8', '3150-0'],
  'systolic-bp': ['8480-6', '85354-9'],
  pulse: ['8867-4'],
  consciousness: ['67775-7'],
  temperature: ['8310-5'],
};
const SYSTOLIC = '8480-6';
const O2_FLOW = '3151-8';
const SPO2_CODES = PARAMETER_CODES.spo2;

/** SNOMED CT findings of the ACVPU scale (issue 18). */
export const CONSCIOUSNESS_CODES: Record<string, Consciousness> = {
  '248234008': 'alert',
  '300202002': 'voice',
  '255373000': 'voice',
  '450847001': 'pain',
  '422768004': 'unresponsive',
  '130987000': 'confusion',
};

/** Observation statuses a score may use: a preliminary, cancelled or entered-in-error reading is not a result. */
export const USABLE_STATUSES = ['final', 'amended', 'corrected'];

/**
 * Values outside these bounds are taken for device or entry errors and reported, not scored (a plausibility check,
 * not a clinical range: 0 breaths or beats per minute are kept, they score 3).
 */
const PLAUSIBLE: Record<string, [number, number]> = {
  'respiration-rate': [0, 80],
  spo2: [20, 100],
  'systolic-bp': [20, 350],
  pulse: [0, 300],
  temperature: [20, 45],
  flow: [0, 100],
  fio2: [0, 100],
};

/** A parameter's reading: the Observation it came from, when it was taken, and its NEWS2 value. */
export interface Reading {
  parameter: Parameter;
  observation: Observation;
  at: string;
  value: number | boolean | Consciousness;
}

/** What the newest Observations of a patient give: the readings in the window, and what is missing or stale. */
export interface AssembledInputs {
  readings: Partial<Record<Parameter, Reading>>;
  /** Parameters with no usable reading at all, with why (no Observation, or only unusable ones). */
  missing: { parameter: Parameter; reason: string }[];
  /** Parameters whose newest usable reading is older than the window (not scored). */
  stale: Reading[];
  scale2: boolean;
  /** All seven parameters, when every one has a reading within the window. */
  values?: News2Values;
}

/** When an Observation was taken: effective[x], else `issued`. */
export function takenAt(o: Observation): string | undefined {
  return o.effectiveDateTime ?? o.effectiveInstant ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start ?? o.issued;
}

const hasCode = (concept: Observation['code'] | undefined, codes: string[]) =>
  concept?.coding?.some((c) => c.system === LOINC && c.code !== undefined && codes.includes(c.code)) ?? false;

/** The LOINC code of an Observation that is one of `codes`. */
function codeOf(o: Observation, codes: string[]): string | undefined {
  return o.code?.coding?.find((c) => c.system === LOINC && c.code !== undefined && codes.includes(c.code))?.code;
}

/** Reads one parameter's NEWS2 value from an Observation, or says why it cannot. */
export function readValue(parameter: Parameter, o: Observation): { value: Reading['value'] } | { problem: string } {
  if (!USABLE_STATUSES.includes(o.status)) return { problem: `status ${o.status}` };
  if (parameter === 'consciousness') {
    const code = o.valueCodeableConcept?.coding?.find((c) => c.system === SNOMED && c.code! in CONSCIOUSNESS_CODES);
    return code ? { value: CONSCIOUSNESS_CODES[code.code!] } : { problem: 'no ACVPU SNOMED CT code in the value' };
  }
  if (parameter === 'systolic-bp' && !hasCode(o.code, [SYSTOLIC])) {
    const component = o.component?.find((c) => hasCode(c.code, [SYSTOLIC]));
    return component ? numeric(parameter, component.valueQuantity) : { problem: 'no systolic component' };
  }
  if (parameter === 'air-or-oxygen') {
    const flow = codeOf(o, [O2_FLOW]) !== undefined;
    const read = numeric(flow ? 'flow' : 'fio2', o.valueQuantity);
    if ('problem' in read) return read;
    return { value: flow ? read.value > 0 : read.value > 21 };
  }
  return numeric(parameter, o.valueQuantity);
}

/** A quantity's value in the unit the chart uses (°C; % for fractions), within plausible bounds. */
function numeric(kind: string, q: Quantity | undefined): { value: number } | { problem: string } {
  if (typeof q?.value !== 'number' || !Number.isFinite(q.value)) return { problem: 'no numeric value' };
  let value = q.value;
  const unit = q.code ?? q.unit;
  if (kind === 'temperature') {
    if (unit === undefined) return { problem: 'temperature without a unit' };
    if (['[degF]', 'degF', '°F', 'F'].includes(unit)) value = ((value - 32) * 5) / 9;
    else if (!['Cel', 'degC', '°C', 'C'].includes(unit)) return { problem: `temperature in unknown unit ${unit}` };
  } else if ((kind === 'fio2' || kind === 'spo2') && (unit === '1' || unit === '{fraction}')) {
    value *= 100;
  } else if ((kind === 'fio2' || kind === 'spo2') && unit !== undefined && unit !== '%') {
    return { problem: `unexpected unit ${unit}` };
  }
  const [low, high] = PLAUSIBLE[kind];
  if (value < low || value > high) return { problem: `implausible value ${q.value} ${unit ?? ''}`.trim() };
  return { value };
}

/** Whether the patient's SpO2 is charted on scale 2: an active Goal on SpO2 whose target tops out at ≤ 92 %. */
export function usesScale2(goals: Goal[]): boolean {
  return goals.some(
    (g) =>
      g.lifecycleStatus === 'active' &&
      (g.target ?? []).some(
        (t) =>
          hasCode(t.measure, SPO2_CODES) &&
          typeof t.detailRange?.high?.value === 'number' &&
          t.detailRange.high.value <= 92,
      ),
  );
}

/**
 * Picks, for each parameter, the newest usable reading among `observations` (any order): within `windowMs` before
 * `now` it is used; older, it is reported stale; none, missing. Nothing is guessed: a score needs all seven.
 */
export function assembleInputs(
  observations: Observation[],
  goals: Goal[],
  now: Date,
  windowMs: number,
): AssembledInputs {
  const since = now.getTime() - windowMs;
  const out: AssembledInputs = { readings: {}, missing: [], stale: [], scale2: usesScale2(goals) };
  const newestFirst = observations
    .map((o) => ({ o, at: takenAt(o) }))
    .filter((x): x is { o: Observation; at: string } => x.at !== undefined && !Number.isNaN(Date.parse(x.at)))
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  for (const parameter of PARAMETERS) {
    const problems: string[] = [];
    let reading: Reading | undefined;
    for (const { o, at } of newestFirst) {
      if (!codeOf(o, PARAMETER_CODES[parameter])) continue;
      const read = readValue(parameter, o);
      if ('value' in read) {
        reading = { parameter, observation: o, at, value: read.value };
        break;
      }
      problems.push(`Observation/${o.id}: ${read.problem}`);
    }
    if (!reading) {
      out.missing.push({ parameter, reason: problems.length ? problems.join('; ') : 'no Observation' });
    } else if (Date.parse(reading.at) < since) {
      out.stale.push(reading);
    } else {
      out.readings[parameter] = reading;
    }
  }
  if (out.missing.length === 0 && out.stale.length === 0) out.values = valuesOf(out);
  return out;
}

function valuesOf({ readings, scale2 }: AssembledInputs): News2Values {
  const value = (p: Parameter) => readings[p]!.value;
  return {
    respirationRate: value('respiration-rate') as number,
    spo2: value('spo2') as number,
    onOxygen: value('air-or-oxygen') as boolean,
    systolicBp: value('systolic-bp') as number,
    pulse: value('pulse') as number,
    consciousness: value('consciousness') as Consciousness,
    temperature: value('temperature') as number,
    scale2,
  };
}
