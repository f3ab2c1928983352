import { measurement, measurementOf } from './codes.ts';
import { observationOf, RejectedPayload, type MappedObservation, type Reading } from './observation.ts';
import { compile, INSTANT, isInstant } from './schema.ts';

/** The name of Tributary's own reading format (README: `tributary-device-obs/1`). */
export const DEVICE_OBS_SCHEMA = 'tributary-device-obs/1';

const code = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { mdc: { type: 'string', pattern: '^\\d{1,10}$' }, loinc: { type: 'string', pattern: '^\\d{1,7}-\\d$' } },
};
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max, pattern: '^[^\\u0000-\\u001f]*$' });
const instant = { type: 'string', pattern: INSTANT };

/** The JSON schema of `tributary-device-obs/1` (documented in integrations/mqtt/README.md). */
export const DEVICE_OBS_JSON_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['msgId', 'deviceId', 'sentAt', 'observations'],
  properties: {
    schema: { const: DEVICE_OBS_SCHEMA },
    msgId: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' },
    deviceId: text(64),
    sentAt: instant,
    patient: text(256),
    observations: {
      type: 'array',
      minItems: 1,
      maxItems: 500,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['seq', 'code'],
        properties: {
          seq: { type: 'integer', minimum: 0, maximum: 1e9 },
          code,
          value: { type: 'number' },
          unit: text(32),
          components: {
            type: 'array',
            minItems: 1,
            maxItems: 10,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['code', 'value', 'unit'],
              properties: { code, value: { type: 'number' }, unit: text(32) },
            },
          },
          effective: {
            oneOf: [
              instant,
              {
                type: 'object',
                additionalProperties: false,
                required: ['start'],
                properties: { start: instant, end: instant },
              },
            ],
          },
          deviceTime: text(64),
          status: { enum: ['final', 'preliminary', 'amended', 'entered-in-error'] },
        },
      },
    },
  },
} as const;

const validate = compile(DEVICE_OBS_JSON_SCHEMA);

/** A `tributary-device-obs/1` message as read: its id, named patient, and readings. */
export interface DeviceObsMessage {
  msgId: string;
  deviceId: string;
  patient?: string;
  readings: Reading[];
}

/** Whether a parsed body looks like a `tributary-device-obs/1` message (rather than FHIR). */
export function isDeviceObs(body: unknown): boolean {
  return typeof body === 'object' && body !== null && !('resourceType' in body) && 'observations' in body;
}

/** Reads and validates a `tributary-device-obs/1` message; throws RejectedPayload with every problem found. */
export function readDeviceObs(body: unknown): DeviceObsMessage {
  const errors = validate(body);
  if (errors.length) throw new RejectedPayload(errors.map((e) => `${DEVICE_OBS_SCHEMA}: ${e}`));
  const msg = body as {
    msgId: string;
    deviceId: string;
    sentAt: string;
    patient?: string;
    observations: {
      seq: number;
      code: { mdc?: string; loinc?: string };
      value?: number;
      unit?: string;
      components?: { code: { mdc?: string; loinc?: string }; value: number; unit: string }[];
      effective?: string | { start: string; end?: string };
      status?: Reading['status'];
    }[];
  };
  const problems: string[] = [];
  if (!isInstant(msg.sentAt)) problems.push(`/sentAt is not a valid instant`);
  const seqs = new Set<number>();
  const readings: Reading[] = msg.observations.map((o, i) => {
    const where = `/observations/${i}`;
    if (seqs.has(o.seq)) problems.push(`${where}/seq ${o.seq} is used twice`);
    seqs.add(o.seq);
    const m = measurementOf(o.code);
    if (typeof m === 'string') problems.push(`${where}/code: ${m}`);
    const effective = o.effective ?? msg.sentAt;
    for (const t of typeof effective === 'string' ? [effective] : [effective.start, effective.end ?? effective.start])
      if (!isInstant(t)) problems.push(`${where}/effective is not a valid instant`);
    const components = (o.components ?? []).map((c, j) => {
      const cm = measurementOf(c.code);
      if (typeof cm === 'string') problems.push(`${where}/components/${j}/code: ${cm}`);
      return { measurement: typeof cm === 'string' ? measurement('systolic') : cm, value: c.value, unit: c.unit };
    });
    return {
      seq: String(o.seq),
      measurement: typeof m === 'string' ? measurement('heart-rate') : m,
      value: o.value,
      unit: o.unit,
      components: o.components ? components : undefined,
      effective: typeof effective === 'string' ? { dateTime: effective } : effective,
      status: o.status ?? 'final',
    };
  });
  if (problems.length) throw new RejectedPayload(problems);
  return { msgId: msg.msgId, deviceId: msg.deviceId, patient: msg.patient, readings };
}

/** The Observations of a validated message for a device and patient (throws RejectedPayload for bad values). */
export function deviceObsObservations(msg: DeviceObsMessage, patient: string): MappedObservation[] {
  const errors: string[] = [];
  const out: MappedObservation[] = [];
  msg.readings.forEach((reading, i) => {
    try {
      out.push(
        observationOf(reading, { deviceId: msg.deviceId, msgId: msg.msgId, patient, where: `/observations/${i}` }),
      );
    } catch (err) {
      if (!(err instanceof RejectedPayload)) throw err;
      errors.push(...err.errors);
    }
  });
  if (errors.length) throw new RejectedPayload(errors);
  return out;
}
