import { hostname } from 'node:os';
import { intEnv } from '../../server/env.ts';
import { DEFAULT_TOPIC_ROOT, isTopicRoot } from './topics.ts';

/** Configuration of the MQTT door (README: Configuration). */
export interface MqttConfig {
  /** `on`: the embedded broker must run (a taken port stops the server); `off`: no broker; unset: run when it can. */
  mode: 'on' | 'off' | 'auto';
  /** Embedded broker port; 0 picks a free one (tests). */
  port: number;
  host: string;
  /** External-broker mode: mqtt.js connects here instead of running the embedded broker. */
  url?: string;
  /** Username and password of Tributary at the external broker. */
  username?: string;
  password?: string;
  /** Client id of this node at the external broker: stable across restarts, so its persistent session survives. */
  clientId: string;
  /** Root of the device topics (`{root}/{deviceId}/obs`…). */
  topicRoot: string;
  /** Shared-subscription group of the external mode (`$share/<group>/…`), so several nodes split the load. */
  shareGroup: string;
  /** Largest PUBLISH payload accepted, in bytes (a bigger packet closes the connection before it is buffered). */
  maxBytes: number;
  /** Messages mapped to FHIR at once. */
  concurrency: number;
}

/** Reads the MQTT door's configuration from the environment. */
export function loadMqttConfig(env: NodeJS.ProcessEnv = process.env): MqttConfig {
  const switchValue = (env.MQTT ?? '').toLowerCase();
  if (!['', 'on', 'off'].includes(switchValue)) throw new Error(`MQTT must be on or off, got "${env.MQTT}"`);
  const url = env.MQTT_URL || undefined;
  if (url && !/^(mqtts?|wss?|tcp|tls):\/\//.test(url)) throw new Error(`MQTT_URL is not an MQTT URL: "${url}"`);
  const topicRoot = env.MQTT_TOPIC_ROOT || DEFAULT_TOPIC_ROOT;
  if (!isTopicRoot(topicRoot)) throw new Error(`MQTT_TOPIC_ROOT is not a topic root: "${topicRoot}"`);
  return {
    mode: switchValue === 'on' ? 'on' : switchValue === 'off' ? 'off' : 'auto',
    port: intEnv(env, 'MQTT_PORT', 1883),
    host: env.MQTT_HOST || env.HOST || '0.0.0.0',
    url,
    username: env.MQTT_USERNAME || undefined,
    password: env.MQTT_PASSWORD || undefined,
    clientId: env.MQTT_CLIENT_ID || `tributary-${hostname()}`.slice(0, 64),
    topicRoot,
    shareGroup: env.MQTT_SHARE_GROUP || 'tributary',
    maxBytes: intEnv(env, 'MQTT_MAX_BYTES', 256 * 1024),
    concurrency: Math.max(1, intEnv(env, 'MQTT_CONCURRENCY', 8)),
  };
}
