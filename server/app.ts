import type { Logger } from 'pino';
import { pino } from 'pino';
import type pg from 'pg';
import { createAuthServer, type AuthServer } from './auth/index.ts';
import type { TributaryConfig } from './config.ts';
import { InProcessClient } from './core/client.ts';
import type { DoorStatus } from './core/door.ts';
import type { Repository } from './core/repository.ts';
import type { FhirRouter } from './core/router.ts';
import { WriteChecks } from './core/write-checks.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.ts';
import { DatabaseMonitor } from './db/health.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { builtInDoors } from './doors.ts';
import { loadDefinitions } from './fhir/definitions.ts';
import type { Host, TributaryDoor } from './host/host.ts';
import { HttpDoor } from './http/door.ts';
import { createMetrics } from './http/metrics.ts';
import { inboxAdminRoutes } from './inbox/admin.ts';
import { Inbox } from './inbox/inbox.ts';
import { jobAdminRoutes } from './jobs/admin.ts';
import { addJobOperations } from './jobs/fhir.ts';
import { JobRunner } from './jobs/runner.ts';
import { createFhirRouter } from './rest/routes.ts';
import { addReindexOperations } from './search/reindex/handlers.ts';
import { startSearchServices } from './search/services.ts';
import { RuntimeSearchParams } from './fhir/search-params/runtime-params.ts';
import { PostgresRepository } from './store/repository.ts';
import { createSubscriptionService, type SubscriptionService } from './subscriptions/service.ts';
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
  /** The durable job runner (server/jobs): register kinds of background work, queue jobs. */
  jobs: JobRunner;
  /** The ingest doors' inbox and dead letter (server/inbox). */
  inbox: Inbox;
  /** What the doors were started with. */
  host: Host;
  /** Every door's state (as `/healthz` lists them). */
  doors(): DoorStatus[];
  pool: pg.Pool;
  logger: Logger;
  close(): Promise<void>;
}

/** Options of a start beyond the configuration. */
export interface StartOptions {
  logger?: Logger;
  /** Doors to run besides the built-in ones (server/doors.ts), e.g. a test's own. */
  doors?: TributaryDoor[];
}

/**
 * Starts Tributary: the database (embedded unless DATABASE_URL) and its migrations, the core (store, router with the
 * access guard, write checks, jobs, inbox, authorization), the HTTP door, then every other door in order
 * (server/doors.ts, then the subscription worker and the job runner). It composes; what each part does lives in it.
 */
export async function startTributary(config: TributaryConfig, options: StartOptions = {}): Promise<Tributary> {
  const log = options.logger ?? pino({ level: config.logLevel });
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

  const subscriptions = createSubscriptionService(config.subscriptions, log);
  const writeChecks = new WriteChecks();
  // What no resource may hold, and Postgres cannot store, is refused even with VALIDATE_WRITES=off.
  if (config.validateWrites) writeChecks.add('validation', checkWrite).add('subscriptions', subscriptions.writeRule);
  else writeChecks.add('well-formed', checkWellFormed);
  const repo = new PostgresRepository(pool, writeChecks.run);
  repo.onCommit(subscriptions.onCommit);
  const runtimeParams = new RuntimeSearchParams();
  repo.useRuntimeSearchParams(runtimeParams);
  const stopSearchServices = await startSearchServices(pool, databaseUrl, config.search, runtimeParams);
  const jobs = new JobRunner({ pool, databaseUrl, logger: log, config: config.jobs });
  const inbox = new Inbox(pool, jobs, log);
  const auth = createAuthServer(config.auth, log);
  const router = createFhirRouter().useGuard(auth.guard).useGuard(subscriptions.guard);
  addJobOperations(router, jobs);
  addReindexOperations(router, jobs);
  router.capabilities.addStatementContributor((cs) => {
    if (cs.rest?.[0]) cs.rest[0].security = auth.security();
  });

  const doors: TributaryDoor[] = [...builtInDoors(), ...(options.doors ?? []), subscriptions, jobs];
  const statuses = (): DoorStatus[] => [http.status(), ...doors.map((d) => d.status())];
  const metrics = createMetrics(pool);
  const http: HttpDoor = new HttpDoor({
    router,
    repo,
    logger: log,
    metrics,
    baseUrl: config.baseUrl,
    maxBodyBytes: config.maxBodyBytes,
    isReady: () => ready,
    databaseHealth: () => databaseMonitor.state,
    auth,
    port: config.port,
    host: config.host,
    requireAdmin: auth.requireAdmin,
    doors: statuses,
    instanceId: config.instanceId,
  });
  http.admin('jobs', jobAdminRoutes(jobs));
  http.admin('inbox', inboxAdminRoutes(inbox));
  await http.start();
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${http.port}`;
  const fhirBase = config.baseUrl?.replace(/\/+$/, '') ?? `${url}/fhir`;
  await auth.start({ origin: fhirBase.replace(/\/fhir$/, ''), fhirBase, pool, databaseUrl, repo, demo: !!embedded });

  const doorHost: Host = {
    env: config.env,
    logger: log,
    pool,
    databaseUrl,
    repo,
    router,
    writeChecks,
    jobs,
    inbox,
    subscriptions,
    auth,
    metrics: metrics.registry,
    http: {
      server: http.server,
      routes: http.routes,
      admin: (path, routes) => http.admin(path, routes),
      upgrade: (path, handler) => http.upgrade(path, handler),
    },
    fhirBase,
    client: (access, identity) => new InProcessClient({ router, repo, baseUrl: fhirBase, access, identity }),
  };
  const started: TributaryDoor[] = [];
  const shutdown = async () => {
    ready = false;
    for (const door of started.splice(0).reverse()) {
      await door.stop().catch((err: unknown) => log.error({ err, door: door.name }, 'a door did not stop cleanly'));
    }
    await http.stop();
    await stopSearchServices();
    await auth.close();
    await databaseMonitor.close();
    await pool.end();
    await embedded?.stop();
  };
  try {
    for (const door of doors) {
      await door.start(doorHost);
      started.push(door);
    }
  } catch (err) {
    await shutdown();
    throw err;
  }
  ready = true;
  log.info({ url, fhirBase: `${url}/fhir`, embeddedPostgres: !!embedded }, 'Tributary is ready');
  return {
    url,
    fhirBase: `${url}/fhir`,
    repo,
    router,
    auth,
    subscriptions,
    jobs,
    inbox,
    host: doorHost,
    doors: statuses,
    pool,
    logger: log,
    close: shutdown,
  };
}
