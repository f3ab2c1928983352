import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { outcome } from '../fhir/outcomes.ts';
import { sendResponse } from '../http/fhir-endpoint.ts';

/** A per-minute rate limit answering 429 with an OperationOutcome (counts are per node, in memory). */
export function perMinute(limit: number, key: (req: IncomingMessage) => string): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit,
    // draft-7's combined `RateLimit` header: draft-8's is written with express's `res.append`, absent outside express.
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: key,
    // Its checks read express's `req.ip` and `req.app`, which FHIR requests (server/http/fhir-endpoint.ts) do not
    // have; the keys given here never come from them (client id, or the X-Forwarded-For-aware address).
    validate: false,
    handler: (_req, res) =>
      sendResponse(
        res,
        { status: 429, resource: outcome('error', 'throttled', `More than ${limit} requests per minute; retry later`) },
        'json',
        false,
        {},
      ),
  });
}
