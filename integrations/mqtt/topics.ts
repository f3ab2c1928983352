/** The root of every device topic: `tributary/v1/devices/{deviceId}/…`. */
export const TOPIC_ROOT = 'tributary/v1/devices';

/** What a device publishes: readings (`obs`), Open mHealth data (`omh`, optionally `/{schema}/{version}`), status. */
export type PublishTopic =
  | { deviceId: string; kind: 'obs' }
  | { deviceId: string; kind: 'status' }
  | { deviceId: string; kind: 'omh'; schema?: string; version?: string };

/** Device ids as FHIR logical ids (the MQTT client id and username equal it). */
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Whether a string is a valid device id (a FHIR id). */
export function isDeviceId(id: string): boolean {
  return ID.test(id);
}

/** Parses a topic a device may publish to; undefined when it is none of them. */
export function parsePublishTopic(topic: string): PublishTopic | undefined {
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return undefined;
  const [deviceId, kind, ...rest] = topic.slice(TOPIC_ROOT.length + 1).split('/');
  if (!isDeviceId(deviceId ?? '')) return undefined;
  if ((kind === 'obs' || kind === 'status') && rest.length === 0) return { deviceId, kind };
  if (kind !== 'omh') return undefined;
  if (rest.length === 0) return { deviceId, kind };
  if (rest.length === 2 && /^[a-z][a-z0-9-]{0,63}$/.test(rest[0]) && /^\d+\.\d+$/.test(rest[1]))
    return { deviceId, kind, schema: rest[0], version: rest[1] };
  return undefined;
}

/** The topic a device reads its results on. */
export const ackTopic = (deviceId: string) => `${TOPIC_ROOT}/${deviceId}/ack`;

/** Whether a device may subscribe to a topic filter: only its own `…/ack` and `…/cmd` (no wildcards). */
export function maySubscribe(deviceId: string, filter: string): boolean {
  return filter === ackTopic(deviceId) || filter === `${TOPIC_ROOT}/${deviceId}/cmd`;
}

/** Whether a device may publish to a topic: only its own readings, Open mHealth data and status. */
export function mayPublish(deviceId: string, topic: string): boolean {
  return parsePublishTopic(topic)?.deviceId === deviceId;
}
