import type express from 'express';
import type pg from 'pg';
import type { Logger } from 'pino';
import type client from 'prom-client';
import type { AuthServer } from '../../server/auth/index.ts';
import type { Inbox } from '../../server/inbox/inbox.ts';
import type { JobRunner } from '../../server/jobs/runner.ts';
import type { FhirRouter } from '../../server/rest/router.ts';
import type { Repository } from '../../server/store/repository.ts';
import type { Hl7v2Config } from './config.ts';
import { loadFeeds } from './feeds.ts';
import { Hl7v2Ingest } from './ingest.ts';
import { createHl7v2Metrics } from './metrics.ts';
import { OrderedQueue } from './ordered-queue.ts';
import { DOOR, Hl7v2Processor, readStored } from './processor.ts';
import { orderingKey } from './ingest.ts';
import { hl7v2HttpRoutes } from './transport/http.ts';
import { startMllpListener, type MllpListener } from './transport/listener.ts';

/** What the server gives the door. */
export interface Hl7v2DoorDeps {
  config: Hl7v2Config;
  repo: Repository;
  router: FhirRouter;
  inbox: Inbox;
  jobs: JobRunner;
  pool: pg.Pool;
  auth: Pick<AuthServer, 'admit'>;
  registry: client.Registry;
  logger: Logger;
}

/** The HL7v2 door: its HTTP routes (mounted at once), and the MLLP listener plus recovery (`start`, once ready). */
export interface Hl7v2Door {
  name: 'hl7v2';
  routes: express.Router;
  start(fhirBase: string): Promise<void>;
  stop(): Promise<void>;
  status(): { state: 'stopped' | 'running' | 'off'; port?: number; connections?: number };
}

/**
 * Composes the door (the one file that wires it to the server, until the core's door seam lands): feeds, metrics,
 * the processor (inbox → FHIR), the ingest (bytes → inbox → ACK), `POST /hl7/v2`, the MLLP listener.
 */
export async function createHl7v2Door(deps: Hl7v2DoorDeps): Promise<Hl7v2Door> {
  const logger = deps.logger.child({ door: DOOR });
  const feeds = await loadFeeds(deps.config.feedsFile, deps.config.timeZone);
  const metrics = createHl7v2Metrics(deps.registry, async () => {
    const { rows } = await deps.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inbox_message WHERE door = $1 AND state IN ('received', 'failed')`,
      [DOOR],
    );
    return rows[0].n;
  });
  let fhirBase = '';
  const processor = new Hl7v2Processor({ ...deps, baseUrl: () => fhirBase, feeds, metrics, logger });
  const queue = new OrderedQueue(deps.config.concurrency);
  const ingest = new Hl7v2Ingest({ inbox: deps.inbox, feeds, processor, queue, metrics, logger });
  const routes = hl7v2HttpRoutes({ auth: deps.auth, ingest, feeds, maxBytes: deps.config.maxBytes });
  let listener: MllpListener | undefined;
  let state: 'stopped' | 'running' | 'off' = deps.config.mllp ? 'stopped' : 'off';
  return {
    name: DOOR,
    routes,
    async start(base) {
      fhirBase = base;
      // Messages stored but never mapped (the server stopped, or died, before): mapped now, in arrival order.
      for await (const stored of unprocessed(deps.inbox)) {
        const key = (() => {
          try {
            return orderingKey(readStored(stored));
          } catch {
            return 'unreadable';
          }
        })();
        void queue.run(key, () => processor.process(stored.id)).catch(() => {});
      }
      if (deps.config.mllp) {
        listener = await startMllpListener(deps.config, ingest, logger);
        state = 'running';
      }
    },
    async stop() {
      await listener?.close();
      if (state === 'running') state = 'stopped';
    },
    status: () => ({ state, port: listener?.port, connections: listener?.connections() }),
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
