import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import cors from 'cors';
import { ipKeyGenerator } from 'express-rate-limit';
import type { Logger } from 'pino';
import { clientAddress } from '../http/request-info.ts';
import { adminRoutes } from './admin.ts';
import type { AuthConfig } from './config.ts';
import { smartConfiguration } from './discovery.ts';
import { InvalidClientMetadataError, normalizeClientScopes } from './grant-scopes.ts';
import { interactionRoutes } from './interactions.ts';
import { errorPage } from './pages.ts';
import { cookieKeysOf } from './provider.ts';
import { perMinute } from './rate-limit.ts';
import type { RunningProvider } from './running-provider.ts';
import { splitScopes } from './scopes.ts';
import type { TokenCache } from './token-cache.ts';
import type { TokenAccess } from './bearer.ts';
import { AUTH_PATH } from './types.ts';
import { upstreamRoutes } from './upstream.ts';

/** Headers a browser app may read from FHIR answers (CORS). */
const EXPOSED_HEADERS = ['Location', 'ETag', 'Last-Modified', 'Content-Location', 'WWW-Authenticate', 'X-Progress'];

/** CORS for the FHIR API and SMART discovery (browser apps on other origins). */
export function fhirCors(): RequestHandler {
  return cors({ exposedHeaders: EXPOSED_HEADERS });
}

/**
 * The express routes of authorization: CORS and SMART discovery on the FHIR paths, the SMART style, and `/auth/*`
 * (rate-limited per address) whose routes `mountAuthorizationServer` adds once the provider runs.
 */
export function discoveryRoutes(
  config: AuthConfig,
  running: RunningProvider,
  cors: RequestHandler,
): { routes: express.Router; authRouter: express.Router } {
  const routes = express.Router();
  routes.use(['/fhir', '/.well-known'], cors);
  routes.get(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'], (_req, res) => {
    res.json(smartConfiguration(running.started.issuer, config.dynamicRegistration));
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
  return { routes, authRouter };
}

/**
 * The OAuth server under `/auth`, once started: login/consent interactions, the admin API, the upstream IdP, dynamic
 * registration (never of backend services), then oidc-provider itself; errors answer an HTML page (or JSON for
 * registration metadata).
 */
export function mountAuthorizationServer(
  authRouter: express.Router,
  deps: { config: AuthConfig; running: RunningProvider; tokens: TokenCache<TokenAccess>; logger: Logger },
): void {
  const { config, running, tokens, logger } = deps;
  const { options, issuer, accounts, grantContexts } = running.started;
  const provider = () => running.provider();
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
      resolve: (token) => running.resolve(token),
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
  authRouter.post('/authorize', express.urlencoded({ extended: false, limit: '56kb' }), authorizeByPost);
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
  authRouter.use((req, res) => running.provider().callback()(req, res));
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
}

/**
 * SMART `authorize-post` (OpenID Connect: the authorization endpoint takes GET and POST): a form POST becomes the same
 * request as a GET with its parameters, handed on inside this process (never redirected, so they stay out of the
 * browser's URL and history). oidc-provider's own POST support is not used: it needs its session cookie to be
 * `SameSite=None`, which browsers drop on plain HTTP, so logins would fail there. Like any cross-site POST, this one
 * arrives without the `SameSite=Lax` session cookie: a user signed in before signs in again (no single sign-on).
 * Query and body parameters are merged; one given in both is a duplicate the provider refuses.
 */
function authorizeByPost(req: Request, res: Response, next: NextFunction): void {
  if (!req.is('application/x-www-form-urlencoded')) {
    res
      .status(400)
      .type('html')
      .send(
        errorPage(
          'invalid_request',
          'A POST to the authorization endpoint is a form (application/x-www-form-urlencoded)',
        ),
      );
    return;
  }
  const params = new URLSearchParams(req.url.split('?')[1] ?? '');
  for (const [name, value] of Object.entries((req.body ?? {}) as Record<string, string | string[]>)) {
    for (const one of Array.isArray(value) ? value : [value]) params.append(name, one);
  }
  req.method = 'GET';
  req.url = `/authorize?${params}`;
  next();
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
