import type { CapabilityStatementRestSecurity } from '@medplum/fhirtypes';
import cors from 'cors';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type Provider from 'oidc-provider';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { RouteGuard } from '../core/router.ts';
import type { AccessContext } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import { PostgresRepository } from '../store/repository.ts';
import { Accounts } from './accounts.ts';
import { adminAuthentication, adminRoutes, saveClient } from './admin.ts';
import { purgeExpired } from './adapter.ts';
import { accessOfToken, bearerAuthentication, type TokenAccess } from './bearer.ts';
import type { AuthConfig } from './config.ts';
import { smartConfiguration, smartSecurity } from './discovery.ts';
import { createAccessGuard, type AccessDecision } from './enforce.ts';
import { AuditTrail, auditedGuard, type AuditRecord } from './audit.ts';
import { outcome } from '../fhir/outcomes.ts';
import { sendResponse } from '../http/fhir-endpoint.ts';
import { clientAddress } from '../http/request-info.ts';
import { interactionRoutes } from './interactions.ts';
import { loadSigningKeys, rotateSigningKeys } from './keys.ts';
import { GrantContexts } from './launch.ts';
import { InvalidClientMetadataError, normalizeClientScopes } from './grant-scopes.ts';
import { errorPage } from './pages.ts';
import { cookieKeysOf, createProvider } from './provider.ts';
import { RevocationFeed, type RevocationListener } from './revocations.ts';
import { TokenCache } from './token-cache.ts';
import { upstreamRoutes } from './upstream.ts';
import { splitScopes } from './scopes.ts';

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

const SYSTEM_ACCESS: AccessContext = { kind: 'system' };

/** Creates the authorization layer; with `AUTH=off` every FHIR request runs with full system access. */
export function createAuthServer(config: AuthConfig, logger: Logger): AuthServer {
  const routes = express.Router();
  if (!config.enabled) {
    return {
      routes,
      admit: async () => SYSTEM_ACCESS,
      // Requests carry SYSTEM_ACCESS (no `permits`), which the guard passes untouched; in-process identities with
      // scopes of their own (bots) stay confined to them.
      guard: createAccessGuard(),
      requireAdmin: (_req, _res, next) => next(),
      resolveAccess: async () => SYSTEM_ACCESS,
      onRevoked: () => {},
      audit: undefined,
      security: () => undefined,
      start: async () => {},
      rotateKeys: async () => {},
      close: async () => {},
    };
  }
  let state:
    | {
        provider: Provider;
        rebuild: () => Promise<Provider>;
        accounts: Accounts;
        options: AuthStartOptions;
        issuer: string;
      }
    | undefined;
  let purgeTimer: NodeJS.Timeout | undefined;
  let audit: AuditTrail | undefined;
  let feed: RevocationFeed | undefined;
  const revocationListeners: RevocationListener[] = [];
  const ready = () => {
    if (!state) throw Object.assign(new Error('The authorization server is starting'), { status: 503 });
    return state;
  };
  const tokens = new TokenCache<TokenAccess>();
  const resolve = (token: string) => {
    const s = ready();
    return accessOfToken(s.provider, s.accounts, s.options.fhirBase, token, tokens);
  };

  const fhirCors = cors({
    exposedHeaders: ['Location', 'ETag', 'Last-Modified', 'Content-Location', 'WWW-Authenticate', 'X-Progress'],
  });
  routes.use(['/fhir', '/.well-known'], fhirCors);
  routes.get(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'], (_req, res) => {
    res.json(smartConfiguration(ready().issuer, config.dynamicRegistration));
  });
  routes.get(`${AUTH_PATH}/smart-style.json`, (_req, res) => {
    res.json({
      color_background: '#ffffff',
      color_highlight: '#0b5cad',
      color_text: '#1b1f24',
      font_family: 'system-ui, sans-serif',
      dim_border_radius: '4px',
    });
  });
  const authRouter = express.Router();
  if (config.authRateLimit > 0)
    routes.use(
      AUTH_PATH,
      perMinute(config.authRateLimit, (req) => ipKeyGenerator(clientAddress(req) ?? '')),
    );
  routes.use(AUTH_PATH, authRouter);

  const start = async (options: AuthStartOptions) => {
    const issuer = `${options.origin}${AUTH_PATH}`;
    const accounts = new Accounts(options.pool, {
      maxFailures: config.loginMaxFailures,
      lockMinutes: config.loginLockMinutes,
    });
    const grantContexts = new GrantContexts(options.pool);
    const build = async () => {
      const keys = await loadSigningKeys(options.pool, config.keyRotationDays);
      return createProvider({
        issuer,
        fhirBase: options.fhirBase,
        pool: options.pool,
        config,
        accounts,
        grantContexts,
        keys,
      });
    };
    const buildWatched = async () => {
      const provider = await build();
      // Revocations (of a token, or of a whole grant on code replay) take effect on this node before the answer;
      // the token store announces them to every node (revocations.ts), this one included.
      provider.on('access_token.destroyed', (token) => tokens.invalidate(token.clientId as string));
      provider.on('client_credentials.destroyed', (token) => tokens.invalidate(token.clientId as string));
      provider.on('grant.revoked', (ctx) => tokens.invalidate(ctx.oidc.client?.clientId ?? '*'));
      return provider;
    };
    feed = new RevocationFeed(options.databaseUrl, logger, { down: () => tokens.suspend(), up: () => tokens.resume() });
    feed.subscribe((clientId) => {
      tokens.invalidate(clientId);
      for (const listener of revocationListeners) listener(clientId);
    });
    await feed.start();
    state = { provider: await buildWatched(), rebuild: buildWatched, accounts, options, issuer };
    const provider = () => ready().provider;
    authRouter.use(
      interactionRoutes({
        provider,
        basePath: AUTH_PATH,
        pool: options.pool,
        repo: options.repo,
        accounts,
        grantContexts,
        grantTtlSeconds: 90 * 24 * 3600,
        upstreamName: config.upstream?.name,
      }),
    );
    authRouter.use(
      adminRoutes({
        provider,
        pool: options.pool,
        accounts,
        resolve,
        revoked: (clientId) => tokens.invalidate(clientId),
      }),
    );
    if (config.upstream) {
      authRouter.use(
        upstreamRoutes({
          provider,
          issuer,
          basePath: AUTH_PATH,
          accounts,
          idp: config.upstream,
          cookieKeys: cookieKeysOf(config),
        }),
      );
    }
    authRouter.get('/authorize', offlineAccessNeedsConsent);
    authRouter.post('/register', express.json({ limit: '64kb' }), (req, _res, next) => {
      const metadata = normalizeClientScopes((req.body ?? {}) as { scope?: string; grant_types?: unknown });
      // Backend services (client_credentials, system/ scopes) are registered by an admin, never by themselves.
      if (Array.isArray(metadata.grant_types) && metadata.grant_types.includes('client_credentials')) {
        throw new InvalidClientMetadataError('client_credentials clients are registered through the admin API');
      }
      req.body = metadata;
      next();
    });
    authRouter.use((req, res) => ready().provider.callback()(req, res));
    authRouter.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
      if (err instanceof InvalidClientMetadataError) {
        res.status(400).json({ error: err.error, error_description: err.message });
        return;
      }
      const status = (err as { status?: number }).status ?? 500;
      if (status >= 500) logger.error({ err }, 'authorization server error');
      res
        .status(status)
        .type('html')
        .send(errorPage(status >= 500 ? 'server_error' : err.name, status >= 500 ? undefined : err.message));
    });
    if (config.audit) {
      // AuditEvents are built by toAuditEvent (typed, valid by construction): written without re-validating each one.
      audit = new AuditTrail(options.pool, new PostgresRepository(options.pool, () => {}), logger);
      audit.indexer.wake(); // events queued before a restart or by another node
      auditOAuthDecisions(state.provider, audit);
    }
    await bootstrap(config, options, state.provider, accounts, logger);
    await purgeExpired(options.pool);
    purgeTimer = setInterval(() => {
      purgeExpired(options.pool).catch(() => {});
      // a long-running node picks up (or makes) the next signing key once the newest is KEY_ROTATION_DAYS old
      buildWatched()
        .then((provider) => {
          if (state) state.provider = provider;
        })
        .catch((err) => logger.error({ err }, 'reloading signing keys failed'));
    }, 3600_000).unref();
  };

  const bearer = bearerAuthentication({
    resolve,
    realm: () => state?.options.fhirBase ?? 'fhir',
    onRefused: (req, reason) =>
      audit?.record({
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
    config.apiRateLimit > 0
      ? perMinute(config.apiRateLimit, (req) => admitted.get(req)?.clientId ?? 'anonymous')
      : undefined;
  return {
    routes,
    async admit(req, res) {
      if (!(await runMiddleware(fhirCors, req, res))) return undefined;
      const access = await bearer(req, res);
      if (!access) return undefined;
      admitted.set(req, access);
      if (apiLimit && !(await runMiddleware(apiLimit, req, res))) return undefined;
      return access;
    },
    // A decision inside a transaction Bundle is recorded only once the transaction commits (Repository.afterCommit).
    guard: auditedGuard(
      () => audit,
      createAccessGuard((d) => d.ctx.repo.afterCommit(() => audit?.record(auditRecordOf(d)))),
    ),
    requireAdmin: adminAuthentication({ provider: () => ready().provider, resolve })(true),
    resolveAccess: async (token) => (token ? resolve(token).catch(() => undefined) : undefined),
    onRevoked: (listener) => void revocationListeners.push(listener),
    get audit() {
      return audit;
    },
    security: () => (state ? smartSecurity(state.issuer, config.dynamicRegistration) : undefined),
    start,
    async rotateKeys() {
      const s = ready();
      await rotateSigningKeys(s.options.pool);
      s.provider = await s.rebuild();
    },
    async close() {
      clearInterval(purgeTimer);
      await feed?.close();
      await audit?.close();
    },
  };
}

/** A per-minute rate limit answering 429 with an OperationOutcome (counts are per node, in memory). */
function perMinute(limit: number, key: (req: IncomingMessage) => string): RequestHandler {
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

/** Audits the OAuth server's decisions: tokens granted or refused, authorization requests refused. */
function auditOAuthDecisions(provider: Provider, audit: AuditTrail): void {
  provider.on('grant.success', (ctx) =>
    audit.record({
      kind: 'login',
      subtype: 'token',
      action: 'E',
      success: true,
      clientId: ctx.oidc.client?.clientId,
      user: ctx.oidc.account?.accountId,
      address: ctx.ip,
    }),
  );
  provider.on('grant.error', (ctx, err) =>
    audit.record({
      kind: 'login',
      subtype: 'token',
      action: 'E',
      success: false,
      description: `${err.message}: ${(err as { error_description?: string }).error_description ?? ''}`,
      clientId: ctx.oidc?.client?.clientId,
      address: ctx.ip,
    }),
  );
  provider.on('authorization.error', (ctx, err) =>
    audit.record({
      kind: 'login',
      subtype: 'authorization',
      action: 'E',
      success: false,
      description: `${err.message}: ${(err as { error_description?: string }).error_description ?? ''}`,
      clientId: ctx.oidc?.client?.clientId,
      address: ctx.ip,
    }),
  );
}

/** The AuditEvent record of a guard decision (BALP RESTful activity). */
function auditRecordOf(d: AccessDecision): AuditRecord {
  const method = d.req.method;
  const search = d.interaction.startsWith('search');
  const bundle = d.interaction === 'transaction';
  const query = new URLSearchParams(Object.entries(d.req.query).flatMap(([k, vs]) => vs.map((v) => [k, v]))).toString();
  return {
    kind: 'rest',
    subtype: bundle
      ? (d.req.body as { type?: string } | undefined)?.type === 'batch'
        ? 'batch'
        : 'transaction'
      : d.interaction,
    action: search || bundle ? 'E' : ({ GET: 'R', POST: 'C', PUT: 'U', PATCH: 'U', DELETE: 'D' } as const)[method],
    success: d.allowed && d.status < 400,
    description: d.reason,
    outcome: d.outcome,
    clientId: d.ctx.access.clientId,
    user: d.ctx.access.actor,
    what: d.resourceType && d.id ? `${d.resourceType}/${d.id}` : undefined,
    query: search || query ? `${d.req.path}${query ? `?${query}` : ''}` : undefined,
    patient: d.ctx.access.patient,
    requestId: d.ctx.requestId,
  };
}

/**
 * OpenID Connect drops `offline_access` unless the request says `prompt=consent`; SMART apps ask for it without, and
 * our consent page always lists it, so such requests get `prompt=consent` (refresh tokens for offline access).
 */
function offlineAccessNeedsConsent(req: Request, _res: Response, next: NextFunction): void {
  const params = new URLSearchParams(req.url.split('?')[1] ?? '');
  if (splitScopes(params.get('scope') ?? undefined).includes('offline_access') && !params.get('prompt')) {
    params.set('prompt', 'consent');
    req.url = `${req.url.split('?')[0]}?${params}`;
  }
  next();
}

/** The bootstrap admin client and user from the environment; on a demo database, a made-up client printed once. */
async function bootstrap(
  config: AuthConfig,
  options: AuthStartOptions,
  provider: Provider,
  accounts: Accounts,
  logger: Logger,
): Promise<void> {
  let clientId = config.adminClientId;
  let secret = config.adminClientSecret;
  if ((!clientId || !secret) && options.demo) {
    clientId = 'tributary-admin';
    secret = randomBytes(24).toString('base64url');
  }
  if (clientId && secret) {
    await saveClient(provider, options.pool, {
      client_id: clientId,
      client_secret: secret,
      client_name: 'Tributary admin (bootstrap)',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'system/*.*',
      tributary_admin: true,
    });
  }
  if (config.adminUser && config.adminPassword) {
    await accounts.upsertLocal({ username: config.adminUser, password: config.adminPassword, role: 'admin' });
  }
  if (clientId && secret && !config.adminClientSecret) {
    const command = `curl -s -u '${clientId}:${secret}' -d 'grant_type=client_credentials&scope=system/*.*' ${options.origin}${AUTH_PATH}/token`;
    logger.info(
      { tokenCommand: command },
      `Authorization is on. Get a token for the bootstrap admin client with: ${command} ; then send "Authorization: Bearer <access_token>". ` +
        'Set ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET for a fixed client, or AUTH=off for a demo without tokens.',
    );
  } else if (!clientId) {
    logger.warn(
      'Authorization is on but no ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET is set: register clients through the admin API or dynamic registration.',
    );
  }
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
