/** The default root of device topics: `tributary/v1/devices/{deviceId}/…`. */
export const DEFAULT_TOPIC_ROOT = 'tributary/v1/devices';

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

/** Whether a string is a usable topic root: topic levels without wildcards, `$` or control characters. */
export function isTopicRoot(root: string): boolean {
  return /^[^#+$/\u0000-\u001f][^#+\u0000-\u001f]{0,199}$/.test(root) && !root.endsWith('/');
}

/** The device topics under one root (`MQTT_TOPIC_ROOT`) and the rules of who may use which. */
export class DeviceTopics {
  constructor(readonly root: string = DEFAULT_TOPIC_ROOT) {}

  /** Parses a topic a device may publish to; undefined when it is none of them. */
  parse(topic: string): PublishTopic | undefined {
    if (!topic.startsWith(`${this.root}/`)) return undefined;
    const [deviceId, kind, ...rest] = topic.slice(this.root.length + 1).split('/');
    if (!isDeviceId(deviceId ?? '')) return undefined;
    if ((kind === 'obs' || kind === 'status') && rest.length === 0) return { deviceId, kind };
    if (kind !== 'omh') return undefined;
    if (rest.length === 0) return { deviceId, kind };
    if (rest.length === 2 && /^[a-z][a-z0-9-]{0,63}$/.test(rest[0]) && /^\d+\.\d+$/.test(rest[1]))
      return { deviceId, kind, schema: rest[0], version: rest[1] };
    return undefined;
  }

  /** The topic a device reads its results on. */
  ack(deviceId: string): string {
    return `${this.root}/${deviceId}/ack`;
  }

  /** Whether a device may subscribe to a topic filter: only its own `…/ack` and `…/cmd` (no wildcards). */
  maySubscribe(deviceId: string, filter: string): boolean {
    return filter === this.ack(deviceId) || filter === `${this.root}/${deviceId}/cmd`;
  }

  /** Whether a device may publish to a topic: only its own readings, Open mHealth data and status. */
  mayPublish(deviceId: string, topic: string): boolean {
    return this.parse(topic)?.deviceId === deviceId;
  }

  /** The filters a consumer at an external broker subscribes to. */
  consumed(): string[] {
    return [`${this.root}/+/obs`, `${this.root}/+/omh`, `${this.root}/+/omh/+/+`, `${this.root}/+/status`];
  }
}
