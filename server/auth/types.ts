import type { CapabilityStatementRestSecurity } from '@medplum/fhirtypes';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type express from 'express';
import type { RequestHandler } from 'express';
import type pg from 'pg';
import type { RouteGuard } from '../core/router.ts';
import type { AccessContext } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import type { AuditTrail } from './audit.ts';
import type { RevocationListener } from './revocations.ts';

/** Where the authorization server lives, relative to the server's origin. */
export const AUTH_PATH = '/auth';

/** What the authorization server needs once the database is up and the public URL known. */
export interface AuthStartOptions {
  /** Public origin of the server, e.g. `http://127.0.0.1:8080`. */
  origin: string;
  /** The FHIR base URL (`${origin}/fhir` unless BASE_URL says otherwise). */
  fhirBase: string;
  pool: pg.Pool;
  /** For the revocation feed's own connection (LISTEN). */
  databaseUrl: string;
  repo: Repository;
  /** True on the embedded database (a local demo): a bootstrap client is made up and printed if none is configured. */
  demo: boolean;
}

/** Tributary's authorization: the OAuth server routes, FHIR request authentication and the access guard. */
export interface AuthServer {
  /** Routes of the express app: `/auth/*`, SMART discovery (with CORS). */
  routes: express.Router;
  /**
   * Admits a FHIR request: CORS, the bearer token, the API rate limit. Returns the caller's access, or undefined when
   * it has answered the request itself (401, 429, a CORS preflight).
   */
  admit(req: IncomingMessage, res: ServerResponse): Promise<AccessContext | undefined>;
  /** The router guard enforcing scopes on every interaction (FhirRouter.useGuard). */
  guard: RouteGuard;
  /** Express middleware admitting admins only (401/403 otherwise), for other modules' admin APIs under `/admin`. */
  requireAdmin: RequestHandler;
  /** The access of a bearer token (undefined when missing or invalid), for doors without express (websockets). */
  resolveAccess(token: string | undefined): Promise<AccessContext | undefined>;
  /**
   * Calls `listener` whenever tokens of a client may have stopped being valid (revoked, expired grant, client
   * deleted) anywhere in the cluster, with the client id (`*`: any client), after this node's cache forgot them.
   */
  onRevoked(listener: RevocationListener): void;
  /** Builds the provider (keys, clients, accounts); call once the server listens. */
  start(options: AuthStartOptions): Promise<void>;
  /** The CapabilityStatement's `rest.security` (SMART oauth-uris), once started; undefined with `AUTH=off`. */
  security(): CapabilityStatementRestSecurity | undefined;
  /** The audit trail (after start, when `AUDIT` is on). */
  readonly audit: AuditTrail | undefined;
  /** Generates new signing keys and rebuilds the provider (tokens stay valid; they are in the database). */
  rotateKeys(): Promise<void>;
  close(): Promise<void>;
}
