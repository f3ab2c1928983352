import { createHash } from 'node:crypto';
import type { PublishTopic } from '../topics.ts';
import { deviceObsObservations, isDeviceObs, readDeviceObs } from './device-obs.ts';
import { fhirObservations, isFhir } from './fhir.ts';
import { observationOf, RejectedPayload, type MappedObservation } from './observation.ts';
import { omhReading, readOmhDataPoint } from './omh.ts';

export { RejectedPayload } from './observation.ts';

/** Parses a payload as JSON: UTF-8 without NUL characters, else RejectedPayload. */
export function parseJson(payload: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    throw new RejectedPayload(['The payload is not UTF-8']);
  }
  let nul = text.includes('\u0000');
  let parsed: unknown;
  try {
    // NUL escaped inside a string (`\u0000`) is as unstorable as a raw one (Postgres text and jsonb refuse it).
    parsed = JSON.parse(text, (_key, value: unknown) => {
      if (typeof value === 'string' && value.includes('\u0000')) nul = true;
      return value;
    });
  } catch (err) {
    throw new RejectedPayload([`The payload is not JSON: ${(err as Error).message}`]);
  }
  if (nul) throw new RejectedPayload(['The payload contains NUL characters']);
  return parsed;
}

/** The message id of a payload (its `msgId`, an Open mHealth header id), else the SHA-256 of its bytes. */
export function messageIdOf(payload: Buffer): string {
  try {
    const body = JSON.parse(payload.toString('utf8')) as { msgId?: unknown; header?: { id?: unknown } } | null;
    const id = body?.msgId ?? body?.header?.id;
    if (typeof id === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(id)) return id;
  } catch {
    // not JSON: the hash below identifies it (its mapping rejects it)
  }
  return createHash('sha256').update(payload).digest('hex');
}

/** What a message maps to: its id, the patient it names (if any), and a builder of its Observations. */
export interface MappedMessage {
  msgId: string;
  namedPatient?: string;
  observations(patient: string): MappedObservation[];
}

/**
 * Reads a reading message of a device's topic: `…/obs` takes `tributary-device-obs/1`, a FHIR Observation or a
 * Bundle of Observations (by content); `…/omh/{schema}/{version}` an Open mHealth body; `…/omh` a data point with its
 * header. Throws RejectedPayload for anything that cannot become data.
 */
export function readMessage(payload: Buffer, topic: PublishTopic, receivedAt: string): MappedMessage {
  const body = parseJson(payload);
  const msgId = messageIdOf(payload);
  const deviceId = topic.deviceId;
  if (topic.kind === 'omh') {
    const input = topic.schema
      ? { schema: topic.schema, version: topic.version!, body: body as Record<string, unknown> }
      : readOmhDataPoint(body);
    if (typeof input.body !== 'object' || input.body === null || Array.isArray(input.body))
      throw new RejectedPayload(['An Open mHealth body must be a JSON object']);
    const reading = omhReading(input, receivedAt);
    return { msgId, observations: (patient) => [observationOf(reading, { deviceId, msgId, patient, where: '/' })] };
  }
  if (isFhir(body)) return { msgId, observations: (patient) => fhirObservations(body, { deviceId, msgId, patient }) };
  if (!isDeviceObs(body))
    throw new RejectedPayload(['Expected tributary-device-obs/1, a FHIR Observation or a Bundle of Observations']);
  const msg = readDeviceObs(body);
  if (msg.deviceId !== deviceId)
    throw new RejectedPayload([`deviceId "${msg.deviceId}" is not the publishing device "${deviceId}"`]);
  return {
    msgId: msg.msgId,
    namedPatient: msg.patient,
    observations: (patient) => deviceObsObservations(msg, patient),
  };
}
