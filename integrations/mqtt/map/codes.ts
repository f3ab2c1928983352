import type { Coding } from '@medplum/fhirtypes';

export const MDC = 'urn:iso:std:iso:11073:10101';
export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';

/** A UCUM unit a measurement may carry, the spellings devices use for it, and the plausible range of values. */
interface UnitRule {
  ucum: string;
  aliases: string[];
  min: number;
  max: number;
}

/** A kind of measurement: its IEEE 11073 MDC and LOINC codes, category, units, and the components of a panel. */
export interface Measurement {
  key: string;
  display: string;
  mdc?: string;
  loinc?: string;
  category: 'vital-signs' | 'laboratory' | 'activity';
  units: UnitRule[];
  /** A panel (blood pressure): the keys of its components; its own value is absent. */
  components?: string[];
}

const mmHg: UnitRule[] = [{ ucum: 'mm[Hg]', aliases: ['mmHg', 'mm Hg', 'mm[Hg]'], min: 0, max: 400 }];
const perMin = (aliases: string[], max: number): UnitRule[] => [
  { ucum: '/min', aliases: ['/min', '{beats}/min', '{breaths}/min', 'min-1', ...aliases], min: 0, max },
];

/**
 * The measurements the door maps (HL7 Personal Health Device IG codes; LOINC vital-sign codes of the FHIR vital
 * signs profile). Deliberately a short table: a code not in it is rejected rather than stored with a guessed meaning.
 */
export const MEASUREMENTS: Measurement[] = [
  {
    key: 'blood-pressure',
    display: 'Blood pressure panel',
    mdc: '150020',
    loinc: '85354-9',
    category: 'vital-signs',
    units: mmHg,
    components: ['systolic', 'diastolic', 'mean-arterial'],
  },
  {
    key: 'systolic',
    display: 'Systolic blood pressure',
    mdc: '150021',
    loinc: '8480-6',
    category: 'vital-signs',
    units: mmHg,
  },
  {
    key: 'diastolic',
    display: 'Diastolic blood pressure',
    mdc: '150022',
    loinc: '8462-4',
    category: 'vital-signs',
    units: mmHg,
  },
  {
    key: 'mean-arterial',
    display: 'Mean blood pressure',
    mdc: '150023',
    loinc: '8478-0',
    category: 'vital-signs',
    units: mmHg,
  },
  {
    key: 'heart-rate',
    display: 'Heart rate',
    mdc: '149546',
    loinc: '8867-4',
    category: 'vital-signs',
    units: perMin(['bpm', 'beats/min', '{beat}/min'], 400),
  },
  {
    key: 'oxygen-saturation',
    display: 'Oxygen saturation in Arterial blood by Pulse oximetry',
    mdc: '150456',
    loinc: '59408-5',
    category: 'vital-signs',
    units: [{ ucum: '%', aliases: ['%', 'percent'], min: 0, max: 100 }],
  },
  {
    key: 'body-temperature',
    display: 'Body temperature',
    mdc: '150364',
    loinc: '8310-5',
    category: 'vital-signs',
    units: [
      { ucum: 'Cel', aliases: ['Cel', 'C', '°C', 'degC'], min: 20, max: 46 },
      { ucum: '[degF]', aliases: ['[degF]', 'F', '°F', 'degF'], min: 68, max: 115 },
    ],
  },
  {
    key: 'body-weight',
    display: 'Body weight',
    mdc: '188736',
    loinc: '29463-7',
    category: 'vital-signs',
    units: [
      { ucum: 'kg', aliases: ['kg'], min: 0, max: 700 },
      { ucum: 'g', aliases: ['g'], min: 0, max: 700_000 },
      { ucum: '[lb_av]', aliases: ['[lb_av]', 'lb', 'lbs'], min: 0, max: 1550 },
    ],
  },
  {
    key: 'respiratory-rate',
    display: 'Respiratory rate',
    mdc: '151562',
    loinc: '9279-1',
    category: 'vital-signs',
    units: perMin(['breaths/min', 'rpm'], 200),
  },
  {
    key: 'blood-glucose',
    display: 'Glucose [Mass/volume] in Capillary blood',
    mdc: '160184',
    loinc: '41653-7',
    category: 'laboratory',
    units: [
      { ucum: 'mg/dL', aliases: ['mg/dL', 'mg/dl'], min: 0, max: 2000 },
      { ucum: 'mmol/L', aliases: ['mmol/L', 'mmol/l'], min: 0, max: 110 },
    ],
  },
  {
    key: 'step-count',
    display: 'Number of steps',
    loinc: '55423-8',
    category: 'activity',
    units: [{ ucum: '{steps}', aliases: ['{steps}', 'steps', '{step}'], min: 0, max: 1_000_000 }],
  },
];

const byKey = new Map(MEASUREMENTS.map((m) => [m.key, m]));
const byMdc = new Map(MEASUREMENTS.filter((m) => m.mdc).map((m) => [m.mdc!, m]));
const byLoinc = new Map(MEASUREMENTS.filter((m) => m.loinc).map((m) => [m.loinc!, m]));

/** A measurement by its key. */
export function measurement(key: string): Measurement {
  const found = byKey.get(key);
  if (!found) throw new Error(`unknown measurement ${key}`);
  return found;
}

/** The measurement an MDC and/or LOINC code names; a string says why there is none (unknown, or the two disagree). */
export function measurementOf(code: { mdc?: string; loinc?: string }): Measurement | string {
  const a = code.mdc !== undefined ? byMdc.get(code.mdc) : undefined;
  const b = code.loinc !== undefined ? byLoinc.get(code.loinc) : undefined;
  if (code.mdc !== undefined && !a) return `unknown MDC code ${code.mdc}`;
  if (code.loinc !== undefined && !b) return `unknown LOINC code ${code.loinc}`;
  if (a && b && a !== b) return `MDC code ${code.mdc} and LOINC code ${code.loinc} name different measurements`;
  return a ?? b ?? 'no code';
}

/** The UCUM unit a spelling means for a measurement, or undefined when it does not fit the measurement. */
export function unitOf(m: Measurement, unit: string): UnitRule | undefined {
  return m.units.find((u) => u.aliases.includes(unit));
}

/** The codings of a measurement: MDC first (the PHD IG), then LOINC. */
export function codingsOf(m: Measurement): Coding[] {
  return [
    ...(m.mdc ? [{ system: MDC, code: m.mdc, display: m.display }] : []),
    ...(m.loinc ? [{ system: LOINC, code: m.loinc, display: m.display }] : []),
  ];
}
