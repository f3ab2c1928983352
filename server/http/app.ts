import express, { type NextFunction, type Request, type Response } from 'express';
import type { RequestListener } from 'node:http';
import type { Logger } from 'pino';
import { outcome, toOutcomeError } from '../fhir/outcomes.ts';
import type { DoorStatus } from '../core/door.ts';
import type { DatabaseHealth } from '../db/health.ts';
import { fhirEndpoint, sendResponse, type FhirEndpointDeps } from './fhir-endpoint.ts';
import { landingPage } from './landing.ts';
import { requestLogging } from './request-log.ts';

/** Dependencies of the HTTP server. */
export interface HttpAppDeps extends Omit<FhirEndpointDeps, 'admit'> {
  logger: Logger;
  /** True once the database is migrated and definitions are loaded. */
  isReady: () => boolean;
  /** The database's state as last seen by its monitor (server/db/health.ts); without one it counts as up. */
  databaseHealth?: () => DatabaseHealth;
  /** Authorization (server/auth): its routes (`/auth`, SMART discovery) and the admission of FHIR requests. */
  auth: HttpAuthorization;
  /** Other modules' routes outside the FHIR base (the admin API: server/http/admin-api.ts). */
  routes?: express.Router;
  /** Every door's state, for `/healthz`. */
  doors?: () => DoorStatus[];
  /** This node's name in `/healthz`. */
  instanceId?: string;
}

/** What the HTTP door needs of the authorization layer (server/auth implements it; this door does not import it). */
export interface HttpAuthorization {
  /** Express routes: `/auth/*`, SMART discovery. */
  routes: express.Router;
  /** Admits a FHIR request (CORS, bearer token, rate limit): the caller's access, or undefined once it answered. */
  admit: FhirEndpointDeps['admit'];
  /** The CapabilityStatement's security section; undefined when authorization is off. */
  security(): unknown;
}

/** Paths of the FHIR endpoint; SMART discovery under the base (`/fhir/.well-known/…`) belongs to the auth routes. */
const FHIR_PATH = /^\/fhir(?:[/?]|$)(?!\.well-known)/;

/**
 * The HTTP server's request listener: FHIR requests under `/fhir` go straight to the FHIR endpoint; everything else
 * (health, metrics, the authorization server and its pages) to an express app. Both get request ids and logs.
 */
export function createHttpListener(deps: HttpAppDeps): RequestListener {
  const logging = requestLogging(deps.logger);
  const fhir = fhirEndpoint({ ...deps, admit: deps.auth.admit });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', true);
  app.use(logging);
  app.get(
    '/',
    landingPage(deps.baseUrl, () => deps.auth.security() !== undefined),
  );
  app.get('/healthz', (_req, res) => {
    const doors = deps.doors?.() ?? [];
    const instance = deps.instanceId;
    if (!deps.isReady()) return void res.status(503).json({ status: 'starting', instance, doors });
    const database = deps.databaseHealth?.() ?? { up: true };
    if (database.up) return void res.json({ status: 'ok', database: 'up', instance, doors });
    res.setHeader('Retry-After', '1');
    res.status(503).json({
      status: 'unavailable',
      database: 'down',
      reason: `The database is unavailable: ${database.reason}`,
      since: database.since,
      instance,
      doors,
    });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.end(await deps.metrics.registry.metrics());
  });
  if (deps.routes) app.use(deps.routes);
  app.use(deps.auth.routes);
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number };
    const outcome = toOutcomeError(err);
    sendResponse(
      res,
      { status: e?.status && e.status < 500 ? e.status : outcome.status, resource: outcome.outcome },
      'json',
      false,
      {},
    );
  });
  return (req, res) => {
    if (!FHIR_PATH.test(req.url ?? '')) return app(req, res);
    logging(req, res, () => {
      // The server listens before its authorization server and subscriptions have started; until then, like /healthz.
      if (deps.isReady()) void fhir(req, res);
      else
        sendResponse(
          res,
          { status: 503, resource: outcome('error', 'transient', 'The server is starting; retry shortly') },
          'json',
          false,
        );
    });
  };
}
