import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { AccessContext } from '../core/types.ts';
import { clientAddress } from '../http/request-info.ts';
import type { AuditTrail } from './audit.ts';
import { bearerAuthentication } from './bearer.ts';
import { perMinute } from './rate-limit.ts';

/**
 * Admission of FHIR requests (outside express): CORS, the bearer token (a refusal is audited), then the per-client API
 * rate limit. Answers `undefined` when it has answered the request itself (preflight, 401, 429).
 */
export function fhirAdmission(deps: {
  cors: RequestHandler;
  resolve: (token: string) => Promise<AccessContext>;
  realm: () => string;
  audit: () => AuditTrail | undefined;
  /** Requests per minute and client; 0: no limit. */
  apiRateLimit: number;
}): (req: IncomingMessage, res: ServerResponse) => Promise<AccessContext | undefined> {
  const bearer = bearerAuthentication({
    resolve: deps.resolve,
    realm: deps.realm,
    onRefused: (req, reason) =>
      deps.audit()?.record({
        kind: 'rest',
        subtype: 'authenticate',
        action: 'E',
        success: false,
        description: reason,
        address: clientAddress(req),
        what: undefined,
        query: req.url,
      }),
  });
  const admitted = new WeakMap<IncomingMessage, AccessContext>();
  const apiLimit =
    deps.apiRateLimit > 0
      ? perMinute(deps.apiRateLimit, (req) => admitted.get(req)?.clientId ?? 'anonymous')
      : undefined;
  return async (req, res) => {
    if (!(await runMiddleware(deps.cors, req, res))) return undefined;
    const access = await bearer(req, res);
    if (!access) return undefined;
    admitted.set(req, access);
    if (apiLimit && !(await runMiddleware(apiLimit, req, res))) return undefined;
    return access;
  };
}

/**
 * Runs a connect-style middleware (cors, express-rate-limit) on a request outside express: true when it passed the
 * request on, false when it answered it.
 */
function runMiddleware(
  middleware: (req: never, res: never, next: (err?: unknown) => void) => void,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const answered = () => resolve(false);
    res.once('finish', answered);
    middleware(req as never, res as never, (err?: unknown) => {
      res.off('finish', answered);
      if (err) reject(err);
      else resolve(true);
    });
  });
}
