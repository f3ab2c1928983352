import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { createServer, type Server } from 'node:net';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { DoorStatus } from '../../../server/core/door.ts';
import { listenOn } from '../../../server/core/listen.ts';
import type { UpgradeHandler } from '../../../server/host/host.ts';
import type { DeviceCredentials } from '../devices.ts';
import type { MqttIngest } from '../ingest.ts';
import type { MqttMetrics } from '../metrics.ts';
import type { DeviceTopics } from '../topics.ts';
import { guardPacketSize } from './packet-guard.ts';

/** MQTT CONNACK return codes (3.1.1): 4 bad user name or password, 5 not authorized. */
const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** The embedded broker: aedes with Tributary's device authentication, topic rules and durable-before-PUBACK ingest. */
export interface EmbeddedBroker {
  /** Sends a message from the server to a device topic (acks, commands), QoS 1. */
  publish(topic: string, payload: string): void;
  /** Handles MQTT over WebSocket upgrades (`/mqtt` on the HTTP port). */
  websocket: UpgradeHandler;
  connections(): number;
  /** Starts the TCP listener; its status says up, or down when a default port is taken. */
  listen(options: { port: number; host: string; explicit: boolean }): Promise<DoorStatus>;
  close(): Promise<void>;
}

/** Creates the embedded aedes broker (MQTT 3.1.1). */
export async function createEmbeddedBroker(deps: {
  credentials: DeviceCredentials;
  ingest: MqttIngest;
  metrics: MqttMetrics;
  logger: Logger;
  maxBytes: number;
  topics: DeviceTopics;
}): Promise<EmbeddedBroker> {
  const { credentials, ingest, metrics, logger } = deps;
  const broker = await Aedes.createBroker({
    maxClientsIdLength: 64,
    authenticate(client: Client, username, password, done) {
      credentials
        .authenticate(client.id, username, password?.toString('utf8') ?? '')
        .then((ok) => {
          if (ok === true) return done(null, true);
          metrics.authFailed(ok === 'limited' ? 'rate-limited' : 'bad-credentials');
          logger.info({ clientId: client.id, limited: ok === 'limited' }, 'mqtt connection refused');
          done(authError('Bad credentials', ok === 'limited' ? NOT_AUTHORIZED : BAD_CREDENTIALS), false);
        })
        .catch((err: unknown) => {
          logger.warn({ err, clientId: client.id }, 'mqtt authentication failed');
          done(authError('Authentication unavailable', 3), false);
        });
    },
    // Runs before the PUBACK (aedes acknowledges after this callback): the message is durable in the inbox first.
    authorizePublish(client, packet, done) {
      if (!client) return done(new Error('no client'));
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      ingest.receive(client.id, packet.topic, payload).then(
        () => done(null),
        (err: unknown) => {
          metrics.received('error', 0);
          logger.warn({ err, clientId: client.id, topic: packet.topic }, 'mqtt message not stored: no PUBACK');
          done(err as Error);
        },
      );
    },
    authorizeSubscribe(client, sub, done) {
      // Refused filters get return code 128 in the SUBACK; the connection stays.
      done(null, deps.topics.maySubscribe(client.id, sub.topic) ? sub : null);
    },
    // Devices never receive each other's messages: only what the server itself publishes (acks, commands) is delivered.
    authorizeForward(_client, packet) {
      return (packet as { clientId?: string }).clientId === undefined ? packet : null;
    },
  });
  // A revoked or replaced secret ends the device's connection (it may reconnect with a valid one).
  const clients = (broker as unknown as { clients: Record<string, Client | undefined> }).clients;
  credentials.onRevoke((deviceId) => clients[deviceId]?.close());
  broker.on('clientError', (client, err) =>
    logger.debug({ clientId: client.id, err: err.message }, 'mqtt client error'),
  );
  const guard = (socket: import('node:net').Socket) =>
    guardPacketSize(socket, deps.maxBytes, (declared) => {
      metrics.received('oversize', 0);
      logger.warn({ declared, remote: socket.remoteAddress }, 'mqtt connection closed: packet over MQTT_MAX_BYTES');
    });
  const server: Server = createServer((socket) => {
    guard(socket);
    broker.handle(socket);
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxBytes + 65_540 });
  return {
    publish(topic, payload) {
      broker.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false },
        () => {},
      );
    },
    websocket(req, socket, head) {
      wss.handleUpgrade(req, socket, head, (ws) => broker.handle(createWebSocketStream(ws), req));
    },
    connections: () => broker.connectedClients,
    listen: (options) => listenOn(server, { name: 'mqtt', ...options, logger }),
    async close() {
      // Stop accepting, then close the clients (the listener's close completes once their sockets are gone).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      wss.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await closed;
    },
  };
}
