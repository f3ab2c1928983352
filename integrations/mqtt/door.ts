import type { DoorStatus } from '../../server/core/door.ts';
import type { Host, TributaryDoor } from '../../server/host/host.ts';
import { loadMqttConfig } from './config.ts';
import { DeviceCredentials, deviceAdminRoutes } from './devices.ts';
import { MqttIngest } from './ingest.ts';
import { createMqttMetrics } from './metrics.ts';
import { DOOR, MqttProcessor, type AckBody } from './processor.ts';
import { DeviceTopics } from './topics.ts';
import { createEmbeddedBroker, type EmbeddedBroker } from './transport/embedded.ts';
import { connectExternalBroker, type ExternalBroker } from './transport/external.ts';

/**
 * The MQTT door (server/core/door.ts): device credentials (`/admin/mqtt/devices`), metrics, the processor (inbox →
 * FHIR), the ingest (PUBLISH → inbox → PUBACK), recovery of messages stored but never mapped, and either the embedded
 * aedes broker (`MQTT_PORT`, default 1883, and MQTT over WebSocket at `/mqtt`; the default port taken leaves it down
 * with one log line, `MQTT=on` or an explicit `MQTT_PORT` stops the start instead) or, with `MQTT_URL`, a client of
 * an external broker. `MQTT=off` disables the door.
 */
export function mqttDoor(): TributaryDoor {
  let embedded: EmbeddedBroker | undefined;
  let external: ExternalBroker | undefined;
  let status: DoorStatus = { name: DOOR, state: 'starting' };
  return {
    name: DOOR,
    async start(host: Host) {
      const config = loadMqttConfig(host.env);
      if (config.mode === 'off') {
        status = { name: DOOR, state: 'disabled', reason: 'MQTT=off' };
        return;
      }
      const logger = host.logger.child({ door: DOOR });
      const topics = new DeviceTopics(config.topicRoot);
      const credentials = new DeviceCredentials(host.pool, (token) => host.auth.resolveAccess(token));
      host.http.admin('mqtt', deviceAdminRoutes(credentials, host.repo));
      const metrics = createMqttMetrics(
        host.metrics,
        async () => {
          const { rows } = await host.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM inbox_message WHERE door = $1 AND state IN ('received', 'failed')`,
            [DOOR],
          );
          return rows[0].n;
        },
        () => embedded?.connections() ?? 0,
      );
      const ack = (deviceId: string, body: AckBody) => {
        const send = embedded ?? external;
        send?.publish(topics.ack(deviceId), JSON.stringify(body));
      };
      const processor = new MqttProcessor({
        repo: host.repo,
        inbox: host.inbox,
        jobs: host.jobs,
        client: (access, identity) => host.client(access, identity),
        metrics,
        logger,
        ack,
        topics,
      });
      const ingest = new MqttIngest({
        inbox: host.inbox,
        processor,
        metrics,
        logger,
        maxBytes: config.maxBytes,
        concurrency: config.concurrency,
        topics,
      });
      // Messages stored but never mapped (the server stopped, or died, before): mapped now, oldest first.
      for (const id of await unprocessed(host)) ingest.schedule(id);
      if (config.url) {
        external = await connectExternalBroker({
          url: config.url,
          username: config.username,
          password: config.password,
          clientId: config.clientId,
          shareGroup: config.shareGroup,
          topics,
          ingest,
          logger,
        });
        return;
      }
      embedded = await createEmbeddedBroker({
        credentials,
        ingest,
        metrics,
        logger,
        topics,
        maxBytes: config.maxBytes,
      });
      host.http.upgrade('/mqtt', embedded.websocket);
      status = await embedded.listen({
        port: config.port,
        host: config.host,
        explicit: config.mode === 'on' || !!host.env.MQTT_PORT,
      });
    },
    async stop() {
      await embedded?.close();
      await external?.close();
      if (status.state === 'up') status = { ...status, state: 'down' };
    },
    status: () => external?.status() ?? status,
  };
}

/** Ids of the door's messages still `received`, oldest first. */
async function unprocessed(host: Host): Promise<number[]> {
  const { rows } = await host.pool.query<{ id: string }>(
    `SELECT id FROM inbox_message WHERE door = $1 AND state = 'received' ORDER BY id`,
    [DOOR],
  );
  return rows.map((r) => Number(r.id));
}
