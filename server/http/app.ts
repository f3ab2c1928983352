import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { payloadTooLarge, toOutcomeError } from '../fhir/outcomes.ts';
import type { AuthServer } from '../auth/index.ts';
import { fhirEndpoint, sendResponse, type FhirEndpointDeps } from './fhir-endpoint.ts';
import { requestLogging } from './request-log.ts';

/** Dependencies of the HTTP server. */
export interface HttpAppDeps extends FhirEndpointDeps {
  logger: Logger;
  maxBodyBytes: number;
  /** True once the database is migrated and definitions are loaded. */
  isReady: () => boolean;
  /** Authorization: its routes (`/auth`, SMART discovery) and the authentication of FHIR requests. */
  auth: Pick<AuthServer, 'routes' | 'authenticate'>;
}

/** Builds the express app: request ids and logs, health, metrics, and the FHIR endpoint under `/fhir`. */
export function createHttpApp(deps: HttpAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', true);
  app.use(requestLogging(deps.logger));
  app.get('/healthz', (_req, res) => {
    res.status(deps.isReady() ? 200 : 503).json({ status: deps.isReady() ? 'ok' : 'starting' });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.end(await deps.metrics.registry.metrics());
  });
  app.use(deps.auth.routes);
  app.use('/fhir', express.raw({ type: () => true, limit: deps.maxBodyBytes }), deps.auth.authenticate, fhirEndpoint(deps));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    const outcome =
      e?.type === 'entity.too.large' ? payloadTooLarge(`The request body is larger than ${deps.maxBodyBytes} bytes`) : toOutcomeError(err);
    sendResponse(res, { status: e?.status && e.status < 500 && e.type !== 'entity.too.large' ? e.status : outcome.status, resource: outcome.outcome }, 'json', false, {});
  });
  return app;
}
