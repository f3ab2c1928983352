import type { Observation } from '@medplum/fhirtypes';
import { LOINC, SNOMED } from './news2-inputs.ts';

/**
 * Vital-sign Observations as a device or an EHR sends them, for the NEWS2 tests and the triage benchmark: one per
 * parameter, LOINC-coded, in the units the chart uses unless told otherwise.
 */
export type VitalSet = Partial<Record<VitalName, number | string>>;
export type VitalName = 'rr' | 'spo2' | 'o2flow' | 'fio2' | 'sbp' | 'pulse' | 'acvpu' | 'temp' | 'tempF';

const QUANTITY: Record<Exclude<VitalName, 'acvpu'>, [code: string, unit: string, display: string]> = {
  rr: ['9279-1', '/min', 'Respiratory rate'],
  spo2: ['59408-5', '%', 'Oxygen saturation in Arterial blood by Pulse oximetry'],
  o2flow: ['3151-8', 'L/min', 'Inhaled oxygen flow rate'],
  fio2: ['3150-0', '%', 'Inhaled oxygen concentration'],
  sbp: ['8480-6', 'mm[Hg]', 'Systolic blood pressure'],
  pulse: ['8867-4', '/min', 'Heart rate'],
  temp: ['8310-5', 'Cel', 'Body temperature'],
  tempF: ['8310-5', '[degF]', 'Body temperature'],
};
/** ACVPU letters → SNOMED CT (issue 18). */
const ACVPU: Record<string, string> = {
  A: '248234008',
  C: '130987000',
  V: '300202002',
  P: '450847001',
  U: '422768004',
};

/** A normal adult on air: every parameter scores 0. */
export const NORMAL_VITALS: VitalSet = { rr: 16, spo2: 97, o2flow: 0, sbp: 120, pulse: 70, acvpu: 'A', temp: 37 };

/** The Observations of `vitals` for `patient`, taken `minutesAgo` minutes before now. */
export function vitalObservations(patient: string, vitals: VitalSet, minutesAgo = 0): Observation[] {
  const effectiveDateTime = new Date(Date.now() - minutesAgo * 60_000).toISOString();
  return Object.entries(vitals).map(([name, value]): Observation => {
    const base = {
      resourceType: 'Observation' as const,
      status: 'final' as const,
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }],
        },
      ],
      subject: { reference: patient },
      effectiveDateTime,
    };
    if (name === 'acvpu') {
      return {
        ...base,
        code: { coding: [{ system: LOINC, code: '67775-7', display: 'Level of responsiveness' }] },
        valueCodeableConcept: { coding: [{ system: SNOMED, code: ACVPU[String(value)] }] },
      };
    }
    const [code, unit, display] = QUANTITY[name as Exclude<VitalName, 'acvpu'>];
    return {
      ...base,
      code: { coding: [{ system: LOINC, code, display }] },
      valueQuantity: { value: Number(value), unit, system: 'http://unitsofmeasure.org', code: unit },
    };
  });
}

/** A transaction Bundle creating the Observations. */
export function vitalsTransaction(observations: Observation[]) {
  return {
    resourceType: 'Bundle' as const,
    type: 'transaction' as const,
    entry: observations.map((resource) => ({ resource, request: { method: 'POST' as const, url: 'Observation' } })),
  };
}
