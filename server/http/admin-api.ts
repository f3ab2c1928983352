import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { OutcomeError, outcome } from '../fhir/outcomes.ts';

/**
 * The admin API under `/admin`: each module's router (`/admin/jobs`, `/admin/inbox`, …) behind one admin check
 * (server/auth's, the same as `/auth/admin/*`), with JSON bodies. Errors answer an OperationOutcome (the app's error
 * handler); a body that is not JSON is a 400. Modules add their routers while the server starts.
 */
export function adminApi(requireAdmin: RequestHandler): {
  router: express.Router;
  add(path: string, router: express.Router): void;
} {
  const api = express.Router();
  const modules = express.Router();
  api.use(modules);
  api.use('/admin', (err: unknown, _req: Request, _res: Response, next: NextFunction) => {
    const status = (err as { status?: number }).status;
    const bodyError = !(err instanceof OutcomeError) && status !== undefined && status >= 400 && status < 500;
    next(bodyError ? new OutcomeError(status, outcome('error', 'invalid', (err as Error).message)) : err);
  });
  return {
    router: api,
    add(path, router) {
      modules.use(`/admin/${path}`, requireAdmin, express.json({ limit: '1mb' }), router);
    },
  };
}
