import type { Observation, ObservationComponent, Quantity } from '@medplum/fhirtypes';
import { codingsOf, UCUM, unitOf, type Measurement } from './codes.ts';

/** The identifier system of readings: `{deviceId}-{msgId}-{seq}` is unique per reading, the same on a resend. */
export const READING_SYSTEM = 'urn:tributary:mqtt:reading';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

/** One reading as every payload format maps it, before it becomes an Observation. */
export interface Reading {
  seq: string;
  measurement: Measurement;
  value?: number;
  unit?: string;
  components?: { measurement: Measurement; value: number; unit: string }[];
  effective: { dateTime: string } | { start: string; end?: string };
  status: 'final' | 'preliminary' | 'amended' | 'entered-in-error';
}

/** An Observation to create, with the search that finds it if it exists already (conditional create). */
export interface MappedObservation {
  resource: Observation;
  ifNoneExist: string;
}

/** A payload that cannot be stored as data: the reasons, for the dead letter and the device's `…/ack`. */
export class RejectedPayload extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('; '));
  }
}

/** The quantity of a value in a unit that must fit the measurement and its plausible range; else why not. */
function quantity(m: Measurement, value: unknown, unit: unknown, where: string): Quantity | string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return `${where}: value must be a finite number`;
  if (typeof unit !== 'string') return `${where}: unit is missing`;
  const rule = unitOf(m, unit);
  if (!rule)
    return `${where}: unit "${unit}" does not fit ${m.display} (expected ${m.units.map((u) => u.ucum).join(', ')})`;
  if (value < rule.min || value > rule.max)
    return `${where}: ${value} ${rule.ucum} is outside the plausible range ${rule.min}–${rule.max}`;
  return { value, unit: rule.ucum, system: UCUM, code: rule.ucum };
}

/**
 * The Observation of a reading, in the shape of the HL7 Personal Health Device IG: MDC and LOINC codes, category,
 * UCUM quantity (or components of a panel), `device`, `subject`, effective time, and the reading's identifier.
 * Throws RejectedPayload when a value or unit does not fit its code.
 */
export function observationOf(
  reading: Reading,
  ctx: { deviceId: string; msgId: string; patient: string; where: string },
): MappedObservation {
  const m = reading.measurement;
  const errors: string[] = [];
  let valueQuantity: Quantity | undefined;
  let component: ObservationComponent[] | undefined;
  if (m.components) {
    if (!reading.components?.length) errors.push(`${ctx.where}: ${m.display} needs components`);
    component = (reading.components ?? []).map((c, i) => {
      const where = `${ctx.where}.components[${i}]`;
      if (!m.components!.includes(c.measurement.key)) errors.push(`${where}: not a component of ${m.display}`);
      const q = quantity(c.measurement, c.value, c.unit, where);
      if (typeof q === 'string') errors.push(q);
      return { code: { coding: codingsOf(c.measurement) }, valueQuantity: typeof q === 'string' ? undefined : q };
    });
  } else {
    const q = quantity(m, reading.value, reading.unit, ctx.where);
    if (typeof q === 'string') errors.push(q);
    else valueQuantity = q;
  }
  if (errors.length) throw new RejectedPayload(errors);
  const value = `${ctx.deviceId}-${ctx.msgId}-${reading.seq}`;
  const effective =
    'dateTime' in reading.effective
      ? { effectiveDateTime: reading.effective.dateTime }
      : { effectivePeriod: { start: reading.effective.start, end: reading.effective.end } };
  return {
    ifNoneExist: `identifier=${encodeURIComponent(`${READING_SYSTEM}|${value}`)}`,
    resource: {
      resourceType: 'Observation',
      status: reading.status,
      identifier: [{ system: READING_SYSTEM, value }],
      category: [{ coding: [{ system: CATEGORY, code: m.category }] }],
      code: { coding: codingsOf(m), text: m.display },
      subject: { reference: ctx.patient },
      device: { reference: `Device/${ctx.deviceId}` },
      ...effective,
      ...(valueQuantity ? { valueQuantity } : {}),
      ...(component ? { component } : {}),
    },
  };
}
