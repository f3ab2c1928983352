import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { DoorStatus } from '../../../server/core/door.ts';
import type { MqttIngest } from '../ingest.ts';
import type { DeviceTopics } from '../topics.ts';

/** Tributary as a client of an external broker (Mosquitto, EMQX, HiveMQ). */
export interface ExternalBroker {
  publish(topic: string, payload: string): void;
  status(): DoorStatus;
  close(): Promise<void>;
}

/**
 * Connects to an external broker with mqtt.js and consumes device messages through a shared subscription
 * (`$share/{group}/…`), so several Tributary nodes split the load. A persistent session (`clean: false`, a stable
 * client id per node) keeps QoS 1 messages while a node is away. The PUBACK goes out from mqtt.js's `handleMessage`
 * callback, i.e. only once the message is stored in the inbox; when it cannot be stored the connection is dropped
 * without a PUBACK and the broker delivers the message again after the reconnect. The external broker authenticates
 * devices and enforces the topic rules (README: ACL templates).
 */
export async function connectExternalBroker(options: {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  shareGroup: string;
  topics: DeviceTopics;
  ingest: MqttIngest;
  logger: Logger;
}): Promise<ExternalBroker> {
  const { ingest, logger } = options;
  let state: DoorStatus = { name: 'mqtt', state: 'starting' };
  const client: MqttClient = mqtt.connect(options.url, {
    clientId: options.clientId,
    username: options.username,
    password: options.password,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  });
  client.handleMessage = (packet, callback) => {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    ingest.receive(undefined, packet.topic, payload).then(
      () => callback(),
      (err: unknown) => {
        logger.warn({ err, topic: packet.topic }, 'mqtt message not stored: no PUBACK, reconnecting');
        callback(err as Error);
        client.stream?.destroy();
      },
    );
  };
  const filters = Object.fromEntries(
    options.topics.consumed().map((f) => [`$share/${options.shareGroup}/${f}`, { qos: 1 as const }]),
  );
  client.on('connect', () => {
    state = { name: 'mqtt', state: 'up', reason: `client of ${redact(options.url)}` };
    // A resumed session keeps its subscriptions; subscribing again is harmless and covers a session the broker lost.
    client.subscribe(filters, (err) => err && logger.error({ err }, 'mqtt: subscribing at the external broker failed'));
  });
  client.on('close', () => {
    if (state.state === 'up') state = { name: 'mqtt', state: 'down', reason: `reconnecting to ${redact(options.url)}` };
  });
  client.on('error', (err) => logger.warn({ err: err.message }, 'mqtt: external broker connection error'));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mqtt: cannot connect to ${redact(options.url)}`)), 15_000);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await client.endAsync(true);
    throw err;
  });
  return {
    publish(topic, payload) {
      client.publish(topic, payload, { qos: 1 });
    },
    status: () => state,
    async close() {
      await client.endAsync();
    },
  };
}

/** A broker URL without its password, for logs and `/healthz`. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return 'the configured broker';
  }
}
