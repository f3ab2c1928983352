import type { DoorStatus } from '../../server/core/door.ts';
import type { Host, TributaryDoor } from '../../server/host/host.ts';
import type { Inbox } from '../../server/inbox/inbox.ts';
import { loadHl7v2Config } from './config.ts';
import { loadFeeds } from './feeds.ts';
import { Hl7v2Ingest } from './ingest.ts';
import { createHl7v2Metrics } from './metrics.ts';
import { OrderedQueue } from './ordered-queue.ts';
import { DOOR, Hl7v2Processor, readStored } from './processor.ts';
import { orderingKey } from './ingest.ts';
import { hl7v2HttpRoutes } from './transport/http.ts';
import { startMllpListener, type MllpListener } from './transport/listener.ts';

/** The HL7v2 door (a TributaryDoor) with what its tests look at. */
export interface Hl7v2Door extends TributaryDoor {
  readonly name: 'hl7v2';
}

/**
 * The HL7v2 door (server/core/door.ts): feeds, metrics, the processor (inbox → FHIR), the ingest (bytes → inbox →
 * ACK), `POST /hl7/v2` on the HTTP port, recovery of messages stored but never mapped, and the MLLP listener
 * (`MLLP=off` leaves it down; the default port 2575 taken leaves it down with one log line; an `MLLP_PORT` the
 * operator set and cannot get stops the start).
 */
export function hl7v2Door(): Hl7v2Door {
  let listener: MllpListener | undefined;
  let status: DoorStatus = { name: DOOR, state: 'starting' };
  return {
    name: DOOR,
    async start(host: Host) {
      const config = loadHl7v2Config(host.env);
      const logger = host.logger.child({ door: DOOR });
      const feeds = await loadFeeds(config.feedsFile, config.timeZone);
      const metrics = createHl7v2Metrics(host.metrics, async () => {
        const { rows } = await host.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM inbox_message WHERE door = $1 AND state IN ('received', 'failed')`,
          [DOOR],
        );
        return rows[0].n;
      });
      const processor = new Hl7v2Processor({ ...host, baseUrl: () => host.fhirBase, feeds, metrics, logger });
      const queue = new OrderedQueue(config.concurrency);
      const ingest = new Hl7v2Ingest({ inbox: host.inbox, feeds, processor, queue, metrics, logger });
      host.http.routes.use(hl7v2HttpRoutes({ auth: host.auth, ingest, feeds, maxBytes: config.maxBytes }));
      // Messages stored but never mapped (the server stopped, or died, before): mapped now, in arrival order. Their
      // ordering keys are read first and the mapping queued after, so that reading the backlog does not wait for
      // connections the first mappings hold (a backlog of hundreds kept the door starting for minutes).
      const backlog: { id: number; key: string }[] = [];
      for await (const stored of unprocessed(host.inbox)) {
        const key = (() => {
          try {
            return orderingKey(readStored(stored));
          } catch {
            return 'unreadable';
          }
        })();
        backlog.push({ id: stored.id, key });
      }
      if (backlog.length > 0)
        logger.info({ messages: backlog.length }, 'hl7v2 messages stored but not mapped: mapping');
      for (const { id, key } of backlog) void queue.run(key, () => processor.process(id)).catch(() => {});
      if (!config.mllp) {
        status = { name: DOOR, state: 'disabled', reason: 'MLLP=off (POST /hl7/v2 is served)' };
        return;
      }
      try {
        listener = await startMllpListener(config, ingest, logger);
        status = { name: DOOR, state: 'up', port: listener.port };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        const reason = `port ${config.port} on ${config.host} is already in use`;
        if (host.env.MLLP_PORT) throw new Error(`${DOOR}: ${reason}`);
        logger.warn(`${DOOR} MLLP listener stays down: ${reason} (set MLLP_PORT to use another one)`);
        status = { name: DOOR, state: 'down', port: config.port, reason };
      }
    },
    async stop() {
      await listener?.close();
      if (status.state === 'up') status = { ...status, state: 'down' };
    },
    status: () => status,
  };
}

/** The door's messages still `received`, oldest first (with payloads). */
async function* unprocessed(inbox: Inbox) {
  const ids: number[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await inbox.list({ door: DOOR, states: ['received'] }, 1000, before);
    ids.push(...page.map((m) => m.id));
    if (page.length < 1000) break;
    before = page[page.length - 1].id;
  }
  for (const id of ids.reverse()) {
    const stored = await inbox.get(id);
    if (stored) yield stored;
  }
}
