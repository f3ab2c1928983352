import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ClientMetadata } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type pg from 'pg';
import type { Accounts } from './accounts.ts';
import type { ScopedAccess } from './access.ts';
import { destroyClient, postgresAdapter } from './adapter.ts';
import { normalizeClientScopes } from './grant-scopes.ts';
import { createLaunch } from './launch.ts';
import { ROLES, type Role } from './policy.ts';
import { findIllFormedValue } from '../fhir/well-formed.ts';
import { OutcomeError } from '../fhir/outcomes.ts';

/** What the admin API needs. */
export interface AdminDeps {
  provider: () => Provider;
  pool: pg.Pool;
  accounts: Accounts;
  /** Resolves a bearer token (throws when invalid). */
  resolve: (token: string) => Promise<ScopedAccess>;
  /** Told when a client's tokens stopped being valid on this node's watch (its caches drop them at once). */
  revoked: (clientId: string) => void;
}

/** Methods that authenticate with a shared secret, for which a secret is generated when none is given. */
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

/** Creates or replaces a client in the provider's store after validating its metadata (RFC 7591 fields). */
export async function saveClient(provider: Provider, pool: pg.Pool, metadata: ClientMetadata): Promise<ClientMetadata> {
  const full: ClientMetadata = normalizeClientScopes({ ...metadata, client_id: metadata.client_id || randomUUID() });
  full.token_endpoint_auth_method ??= 'client_secret_basic';
  if (SECRET_METHODS.has(full.token_endpoint_auth_method) && !full.client_secret)
    full.client_secret = randomBytes(32).toString('base64url');
  await provider.Client.validate(full);
  await new (postgresAdapter(pool))('Client').upsert(full.client_id, { ...full });
  return full;
}

/**
 * The admin check of the admin APIs (this one, and `/admin/*` of other modules: server/http/admin-api.ts): a valid
 * bearer token (else 401) of an admin — a user with the admin role, or the bootstrap (admin) client — whose scopes
 * reach everything, so an app an admin signs in to with narrower scopes gets no admin rights (else 403). With
 * `admin` false, any token that reads everything passes too. The caller's access is left in `res.locals.admin`.
 */
export function adminAuthentication(deps: Pick<AdminDeps, 'provider' | 'resolve'>): (admin: boolean) => RequestHandler {
  return (admin) => async (req: Request, res: Response, next: NextFunction) => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    let access: ScopedAccess;
    try {
      if (!m) throw new Error('An access token is required');
      access = await deps.resolve(m[1]);
    } catch (err) {
      // The authorization server still starting (503) is no verdict on the token.
      if (err instanceof OutcomeError) return next(err);
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      res.status(401).json({ error: 'invalid_token', error_description: (err as Error).message });
      return;
    }
    const client = await deps.provider().Client.find(access.clientId);
    // an admin identity, and a token whose scopes reach everything (an app an admin signed in to gets no more)
    const unrestricted = (['c', 'r', 'u', 'd', 's'] as const).every((p) => access.whereFor(p, '*') === undefined);
    const isAdmin =
      unrestricted &&
      (access.identity.role === 'admin' || (!access.identity.role && client?.['tributary_admin'] === true));
    const allowed = admin ? isAdmin : isAdmin || access.whereFor('r', '*') === undefined;
    if (!allowed) {
      res.status(403).json({
        error: 'insufficient_scope',
        error_description: admin ? 'An admin token is required' : 'The token must be able to read all resources',
      });
      return;
    }
    res.locals.admin = access;
    next();
  };
}

/**
 * The admin API under `/auth`: EHR launch contexts (`POST /auth/launch`, for any token that reads everything),
 * client registration (`/auth/admin/clients`) and local accounts (`/auth/admin/users`) for admins: users with the
 * admin role or the bootstrap (admin) client, with a token whose scopes reach everything (`user/*.*`, `system/*.*`).
 */
export function adminRoutes(deps: AdminDeps): express.Router {
  const router = express.Router();
  const parseJson = express.json({ limit: '64kb' });
  const json: RequestHandler = (req, res, next) =>
    parseJson(req, res, (err?: unknown) => (err ? next(err) : refuseIllFormedBody(req, res, next)));
  const clients = () => new (postgresAdapter(deps.pool))('Client');

  const authenticate = adminAuthentication(deps);

  router.post('/launch', json, authenticate(false), async (req, res) => {
    const { patient, encounter } = (req.body ?? {}) as { patient?: unknown; encounter?: unknown };
    if (
      (patient !== undefined && typeof patient !== 'string') ||
      (encounter !== undefined && typeof encounter !== 'string')
    ) {
      res.status(400).json({ error: 'invalid_request', error_description: '"patient" and "encounter" must be ids' });
      return;
    }
    const launch = await createLaunch(deps.pool, { patient, encounter }, (res.locals.admin as ScopedAccess).clientId);
    res.status(201).json({ launch: launch.id, patient, encounter, expires_in: 3600 });
  });

  router.get('/admin/clients', authenticate(true), async (_req, res) => {
    const r = await deps.pool.query<{ payload: ClientMetadata }>(
      "SELECT payload FROM oidc_payload WHERE model = 'Client' ORDER BY id",
    );
    res.json(r.rows.map((row) => withoutSecret(row.payload)));
  });

  router.post('/admin/clients', json, authenticate(true), async (req, res) => {
    res.status(201).json(await saveClient(deps.provider(), deps.pool, req.body as ClientMetadata));
  });

  router.get('/admin/clients/:id', authenticate(true), async (req, res) => {
    const found = await clients().find(String(req.params.id));
    if (!found) res.status(404).json({ error: 'not_found' });
    else res.json(withoutSecret(found as ClientMetadata));
  });

  router.put('/admin/clients/:id', json, authenticate(true), async (req, res) => {
    res.json(
      await saveClient(deps.provider(), deps.pool, {
        ...(req.body as ClientMetadata),
        client_id: String(req.params.id),
      }),
    );
  });

  // Deleting a client revokes everything issued to it, on every node at once (adapter.ts destroyClient).
  router.delete('/admin/clients/:id', authenticate(true), async (req, res) => {
    const id = String(req.params.id);
    const existed = await destroyClient(deps.pool, id);
    deps.revoked(id);
    if (existed) res.status(204).end();
    else res.status(404).json({ error: 'not_found' });
  });

  router.post('/admin/users', json, authenticate(true), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body.username !== 'string' || typeof body.password !== 'string' || !ROLES.includes(body.role as Role)) {
      res.status(400).json({
        error: 'invalid_request',
        error_description: `username, password and role (${ROLES.join(', ')}) are required`,
      });
      return;
    }
    const account = await deps.accounts.upsertLocal({
      username: body.username,
      password: body.password,
      role: body.role as Role,
      fhirUser: typeof body.fhirUser === 'string' ? body.fhirUser : undefined,
      patient: typeof body.patient === 'string' ? body.patient : undefined,
      name: typeof body.name === 'string' ? body.name : undefined,
    });
    res.status(201).json(account);
  });

  router.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { error?: string; error_description?: string; status?: number };
    const status = e.error ? 400 : (e.status ?? 500);
    if (err instanceof OutcomeError && status === 503) {
      res.status(503).json({ error: 'temporarily_unavailable', error_description: err.message });
      return;
    }
    if (status >= 500) {
      res.status(500).json({ error: 'server_error' });
      return;
    }
    res
      .status(status)
      .json({ error: e.error ?? 'invalid_request', error_description: e.error_description ?? err.message });
  });
  return router;
}

/** 400 for a JSON body holding text Postgres cannot store (NUL, a lone surrogate) or an out-of-range number. */
function refuseIllFormedBody(req: Request, res: Response, next: NextFunction): void {
  const bad = req.body === undefined ? undefined : findIllFormedValue(req.body, 'body');
  if (bad) res.status(400).json({ error: 'invalid_request', error_description: `${bad.path}: ${bad.problem}` });
  else next();
}

function withoutSecret(metadata: ClientMetadata): ClientMetadata {
  const { client_secret: _secret, ...rest } = metadata;
  return rest;
}
