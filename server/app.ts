import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type pg from 'pg';
import { createAuthServer, type AuthServer } from './auth/index.ts';
import type { TributaryConfig } from './config.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.ts';
import { DatabaseMonitor } from './db/health.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { loadDefinitions } from './fhir/definitions.ts';
import { adminApi } from './http/admin-api.ts';
import { createHttpListener } from './http/app.ts';
import { createMetrics } from './http/metrics.ts';
import { Inbox } from './inbox/inbox.ts';
import { inboxAdminRoutes } from './inbox/admin.ts';
import { jobAdminRoutes } from './jobs/admin.ts';
import { addJobOperations } from './jobs/fhir.ts';
import { JobRunner } from './jobs/runner.ts';
import { createFhirRouter } from './rest/routes.ts';
import { addReindexOperations } from './search/reindex/handlers.ts';
import { startSearchServices } from './search/services.ts';
import { createSubscriptionService, type SubscriptionService } from './subscriptions/service.ts';
import { BUILT_IN_BOTS } from '../bots/index.ts';
import { createHl7v2Door, type Hl7v2Door } from '../integrations/hl7v2/door.ts';
import express from 'express';
import { addBotOperations } from '../bots/runtime/execute.ts';
import { selectBots } from '../bots/runtime/registrations.ts';
import { BotRuntime } from '../bots/runtime/runtime.ts';
import type { FhirRouter } from './rest/router.ts';
import { Repository } from './store/repository.ts';
import { checkWellFormed, checkWrite, prepareValidation } from './validation/validator.ts';

/** A running Tributary: its URL and the in-process API other doors (MLLP, MQTT, bots) call. */
export interface Tributary {
  /** `http://host:port` the server listens on. */
  url: string;
  /** FHIR base URL. */
  fhirBase: string;
  repo: Repository;
  router: FhirRouter;
  /** SMART authorization (server/auth): its audit trail, key rotation. */
  auth: AuthServer;
  /** Subscriptions: outbox reader, delivery (server/subscriptions). */
  subscriptions: SubscriptionService;
  /** The bots (bots/): registrations, worker threads, schedules. */
  bots: BotRuntime;
  /** The durable job runner (server/jobs): register kinds of background work, queue jobs. */
  jobs: JobRunner;
  /** The ingest doors' inbox and dead letter (server/inbox). */
  inbox: Inbox;
  /** The HL7v2 door (integrations/hl7v2): MLLP listener, `POST /hl7/v2`. */
  hl7v2: Hl7v2Door;
  pool: pg.Pool;
  logger: Logger;
  close(): Promise<void>;
}

/** Starts the database (embedded unless DATABASE_URL), migrates, loads definitions and listens. */
export async function startTributary(config: TributaryConfig, logger?: Logger): Promise<Tributary> {
  const log = logger ?? pino({ level: config.logLevel });
  let ready = false;
  let embedded: EmbeddedDatabase | undefined;
  // The database starts (embedded: a child process) and migrates while this thread loads the definitions.
  const database = (async () => {
    if (config.databaseUrl) return config.databaseUrl;
    embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort, {
      logger: log.child({ embeddedPostgres: true }),
    });
    return embedded.url;
  })();
  const migrated = database.then((url) => migrate(url));
  migrated.catch(() => {}); // a failed database start is reported by `await database` below, not as an unhandled rejection
  // Let the database's start-up get going (spawn, connect) before the definitions occupy this thread.
  await new Promise((resolve) => setTimeout(resolve, 20));
  loadDefinitions();
  if (config.validateWrites) prepareValidation();
  const databaseUrl = await database;
  await migrated;
  const pool = createPool(databaseUrl, config.dbPoolSize);
  // /healthz answers from what this monitor last saw (its own connection: a busy pool does not look like an outage).
  const databaseMonitor = new DatabaseMonitor(databaseUrl, log);
  databaseMonitor.start();
  const botDefinitions = await selectBots(BUILT_IN_BOTS, config.subscriptions.bots, config.subscriptions.botModules);
  const bots = new BotRuntime(botDefinitions, config.subscriptions.maxAttempts, log);
  const subscriptions = createSubscriptionService(config.subscriptions, log, bots);
  const repo = new Repository(pool, async (resource) => {
    if (!config.validateWrites) {
      checkWellFormed(resource); // what no resource may hold, and Postgres cannot store, is refused all the same
      return undefined;
    }
    checkWrite(resource);
    return subscriptions.writeRule(resource);
  });
  repo.onCommit(subscriptions.onCommit);
  const stopSearchServices = await startSearchServices(pool, databaseUrl, config.search);
  const jobs = new JobRunner({ pool, databaseUrl, logger: log, config: config.jobs });
  const inbox = new Inbox(pool, jobs, log);
  const auth = createAuthServer(config.auth, log);
  const router = createFhirRouter().useGuard(auth.guard).useGuard(subscriptions.guard);
  addJobOperations(router, jobs);
  addReindexOperations(router, jobs);
  addBotOperations(router, bots);
  router.capabilities.addStatementContributor((cs) => {
    if (cs.rest?.[0]) cs.rest[0].security = auth.security();
  });
  const metrics = createMetrics(pool);
  const hl7v2 = await createHl7v2Door({
    config: config.hl7v2,
    repo,
    router,
    inbox,
    jobs,
    pool,
    auth,
    registry: metrics.registry,
    logger: log,
  });
  const listener = createHttpListener({
    router,
    repo,
    logger: log,
    metrics,
    baseUrl: config.baseUrl,
    maxBodyBytes: config.maxBodyBytes,
    isReady: () => ready,
    databaseHealth: () => databaseMonitor.state,
    auth,
    routes: express
      .Router()
      .use(adminApi(auth.requireAdmin, { jobs: jobAdminRoutes(jobs), inbox: inboxAdminRoutes(inbox) }))
      .use(hl7v2.routes),
  });
  const server: Server = createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as AddressInfo).port;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}`;
  const fhirBase = config.baseUrl?.replace(/\/+$/, '') ?? `${url}/fhir`;
  await auth.start({ origin: fhirBase.replace(/\/fhir$/, ''), fhirBase, pool, databaseUrl, repo, demo: !!embedded });
  await subscriptions.start({
    pool,
    databaseUrl,
    repo,
    router,
    fhirBase,
    httpServer: server,
    resolveAccess: auth.resolveAccess,
    onRevoked: auth.onRevoked,
  });
  await bots.start({ router, repo, pool, fhirBase, kick: subscriptions.kick });
  await jobs.start();
  await hl7v2.start(fhirBase);
  ready = true;
  log.info({ url, fhirBase: `${url}/fhir`, embeddedPostgres: !!embedded }, 'Tributary is ready');
  return {
    url,
    fhirBase: `${url}/fhir`,
    repo,
    router,
    auth,
    subscriptions,
    bots,
    jobs,
    inbox,
    hl7v2,
    pool,
    logger: log,
    async close() {
      await hl7v2.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Subscriptions first: they end the websockets, which the HTTP server would otherwise wait for forever.
      await subscriptions.close();
      await closed;
      server.closeAllConnections();
      await jobs.stop();
      await bots.close();
      await stopSearchServices();
      await auth.close();
      await databaseMonitor.close();
      await pool.end();
      await embedded?.stop();
    },
  };
}
