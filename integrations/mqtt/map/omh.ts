import { measurement } from './codes.ts';
import { RejectedPayload, type Reading } from './observation.ts';
import { compile, INSTANT, isInstant } from './schema.ts';

/**
 * Open mHealth data (https://www.openmhealth.org/documentation/#/schema-docs/schema-library): the body schemas the
 * door maps, with the versions it accepts and the property holding each measurement. The published schemas are not
 * vendored here; the JSON schemas below check what the mapping relies on (required measurement, `{value, unit}`,
 * time frame) with ajv — a body the published schema rejects for a property we do not read is still accepted.
 */
const OMH: Record<string, { versions: string[]; property: string; key: string; unit?: string }> = {
  'blood-pressure': { versions: ['1.0', '2.0', '3.0', '3.1', '4.0'], property: '', key: 'blood-pressure' },
  'heart-rate': { versions: ['1.0', '1.1', '2.0'], property: 'heart_rate', key: 'heart-rate' },
  'oxygen-saturation': { versions: ['1.0', '2.0'], property: 'oxygen_saturation', key: 'oxygen-saturation' },
  'body-temperature': { versions: ['1.0', '2.0', '3.0', '4.0'], property: 'body_temperature', key: 'body-temperature' },
  'blood-glucose': { versions: ['1.0', '2.0', '3.0', '4.0'], property: 'blood_glucose', key: 'blood-glucose' },
  'body-weight': { versions: ['1.0', '2.0', '3.0'], property: 'body_weight', key: 'body-weight' },
  'respiratory-rate': { versions: ['1.0', '2.0'], property: 'respiratory_rate', key: 'respiratory-rate' },
  'step-count': { versions: ['1.0', '2.0', '3.0'], property: 'step_count', key: 'step-count', unit: 'steps' },
};

/** Open mHealth duration units (duration-unit-value) the door converts; months and years have no fixed length. */
const DURATION_MS: Record<string, number> = {
  ms: 1,
  sec: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  wk: 604_800_000,
};

const unitValue = {
  type: 'object',
  required: ['value', 'unit'],
  properties: { value: { type: 'number' }, unit: { type: 'string', maxLength: 32 } },
};
const duration = {
  type: 'object',
  required: ['value', 'unit'],
  properties: { value: { type: 'number', minimum: 0 }, unit: { enum: Object.keys(DURATION_MS) } },
};
const instant = { type: 'string', pattern: INSTANT };
const timeFrame = {
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  properties: {
    date_time: instant,
    time_interval: {
      anyOf: [
        {
          type: 'object',
          required: ['start_date_time', 'end_date_time'],
          properties: { start_date_time: instant, end_date_time: instant },
        },
        {
          type: 'object',
          required: ['start_date_time', 'duration'],
          properties: { start_date_time: instant, duration },
        },
        { type: 'object', required: ['end_date_time', 'duration'], properties: { end_date_time: instant, duration } },
        {
          type: 'object',
          required: ['date'],
          properties: { date: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' } },
        },
      ],
    },
  },
};
const body = (required: Record<string, object>) =>
  compile({
    type: 'object',
    required: Object.keys(required),
    properties: { ...required, effective_time_frame: timeFrame },
  });
const validators: Record<string, (v: unknown) => string[]> = Object.fromEntries(
  Object.entries(OMH).map(([name, s]) => [
    name,
    name === 'blood-pressure'
      ? body({ systolic_blood_pressure: unitValue, diastolic_blood_pressure: unitValue })
      : name === 'step-count'
        ? body({ step_count: { anyOf: [{ type: 'number' }, unitValue] } })
        : body({ [s.property]: unitValue }),
  ]),
);
const header = compile({
  type: 'object',
  required: ['id', 'creation_date_time', 'schema_id'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' },
    creation_date_time: { type: 'string', pattern: INSTANT },
    schema_id: {
      type: 'object',
      required: ['namespace', 'name', 'version'],
      properties: { namespace: { const: 'omh' }, name: { type: 'string' }, version: { type: 'string' } },
    },
  },
});

/** An Open mHealth data point (header + body), or a bare body whose schema the topic names. */
export interface OmhInput {
  schema: string;
  version: string;
  body: Record<string, unknown>;
  /** The header's id: the message id of a data point. */
  id?: string;
  /** When the data point was made (the reading's time if its body has no time frame). */
  created?: string;
}

/** Reads a data point with its header (topic `…/omh`); throws RejectedPayload. */
export function readOmhDataPoint(value: unknown): OmhInput {
  const dp = value as { header?: unknown; body?: unknown };
  if (typeof value !== 'object' || value === null || !dp.header || !dp.body)
    throw new RejectedPayload(['Open mHealth data point: header and body are required']);
  const errors = header(dp.header);
  if (errors.length) throw new RejectedPayload(errors.map((e) => `Open mHealth header: ${e}`));
  const h = dp.header as { id: string; creation_date_time: string; schema_id: { name: string; version: string } };
  return {
    schema: h.schema_id.name,
    version: h.schema_id.version,
    body: dp.body as Record<string, unknown>,
    id: h.id,
    created: h.creation_date_time,
  };
}

/** The reading of an Open mHealth body of a supported schema and version; throws RejectedPayload. */
export function omhReading(input: OmhInput, receivedAt: string): Reading {
  const spec = OMH[input.schema];
  if (!spec) throw new RejectedPayload([`Open mHealth schema "${input.schema}" is not supported`]);
  if (!spec.versions.includes(input.version))
    throw new RejectedPayload([`Open mHealth ${input.schema} version ${input.version} is not supported`]);
  const errors = validators[input.schema](input.body);
  if (errors.length) throw new RejectedPayload(errors.map((e) => `Open mHealth ${input.schema}: ${e}`));
  const b = input.body as Record<string, { value: number; unit: string } | number> & {
    effective_time_frame?: TimeFrame;
  };
  const effective = effectiveOf(b.effective_time_frame) ?? { dateTime: input.created ?? receivedAt };
  for (const t of Object.values(effective))
    if (t !== undefined && t.length > 10 && !isInstant(t))
      throw new RejectedPayload([`Open mHealth time frame: ${t} is not an instant`]);
  const m = measurement(spec.key);
  if (input.schema === 'blood-pressure') {
    const part = (key: string, v: unknown) => {
      const q = v as { value: number; unit: string };
      return { measurement: measurement(key), value: q.value, unit: q.unit };
    };
    return {
      seq: '0',
      measurement: m,
      components: [part('systolic', b.systolic_blood_pressure), part('diastolic', b.diastolic_blood_pressure)],
      effective,
      status: 'final',
    };
  }
  const raw = b[spec.property];
  const q = typeof raw === 'number' ? { value: raw, unit: spec.unit! } : raw;
  return { seq: '0', measurement: m, value: q.value, unit: q.unit, effective, status: 'final' };
}

/** An Open mHealth time frame (validated by the body schema). */
interface TimeFrame {
  date_time?: string;
  time_interval?: {
    start_date_time?: string;
    end_date_time?: string;
    duration?: { value: number; unit: string };
    date?: string;
  };
}

/** The effective time of a time frame: an instant, a period (a duration added or taken away), or a whole day. */
function effectiveOf(tf: TimeFrame | undefined): Reading['effective'] | undefined {
  if (tf?.date_time) return { dateTime: tf.date_time };
  const ti = tf?.time_interval;
  if (!ti) return undefined;
  const ms = ti.duration ? ti.duration.value * DURATION_MS[ti.duration.unit] : 0;
  const shift = (t: string, by: number) => new Date(Date.parse(t) + by).toISOString();
  if (ti.start_date_time) return { start: ti.start_date_time, end: ti.end_date_time ?? shift(ti.start_date_time, ms) };
  if (ti.end_date_time) return { start: shift(ti.end_date_time, -ms), end: ti.end_date_time };
  // A day (and a part of it, which FHIR cannot say): the date alone.
  return { dateTime: ti.date! };
}
