import type express from 'express';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { AuthServer } from '../auth/index.ts';
import type { InProcessClient, ClientIdentity } from '../core/client.ts';
import type { Door } from '../core/door.ts';
import type { Repository } from '../core/repository.ts';
import type { FhirRouter } from '../core/router.ts';
import type { AccessContext } from '../core/types.ts';
import type { WriteChecks } from '../core/write-checks.ts';
import type { Inbox } from '../inbox/inbox.ts';
import type { JobRunner } from '../jobs/runner.ts';
import type { SubscriptionService } from '../subscriptions/service.ts';

/** Handles a protocol upgrade (a websocket) on the HTTP port. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** What a door may add to the HTTP port. */
export interface HttpHost {
  server: Server;
  /** Express routes outside the FHIR base (e.g. `POST /hl7/v2`), served like `/auth`. */
  routes: express.Router;
  /** Adds an admin API under `/admin/<path>`, behind the admin check, with JSON bodies. */
  admin(path: string, router: express.Router): void;
  /** Serves protocol upgrades of one path (`/ws/subscriptions`, `/mqtt`); other paths are refused. */
  upgrade(path: string, handler: UpgradeHandler): void;
}

/**
 * What the running server offers its doors and modules (server/core/door.ts): the core (store, router, write checks),
 * the shared machinery (jobs, inbox, subscriptions, authorization), the HTTP port, and in-process clients. A door
 * takes what it needs from here; it never imports the composition root.
 */
export interface Host {
  /** The environment: each door reads its own settings (enable switch, port) from it. */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  pool: pg.Pool;
  databaseUrl: string;
  repo: Repository;
  router: FhirRouter;
  writeChecks: WriteChecks;
  jobs: JobRunner;
  inbox: Inbox;
  subscriptions: SubscriptionService;
  /** Authorization: `admit` authenticates an HTTP request as the FHIR API does (a door's own HTTP routes use it). */
  auth: Pick<AuthServer, 'admit' | 'resolveAccess' | 'onRevoked' | 'requireAdmin'>;
  /** The Prometheus registry `/metrics` serves: doors add their own metrics to it. */
  metrics: Registry;
  http: HttpHost;
  /** The public FHIR base URL (the HTTP door listens before any other door starts). */
  fhirBase: string;
  /** An in-process client acting with `access`; with an identity, every write it makes gets a Provenance. */
  client(access: AccessContext, identity?: ClientIdentity): InProcessClient;
}

/** A door of a Tributary server. */
export type TributaryDoor = Door<Host>;
