import type { JWK } from 'jose';
import { randomBytes } from 'node:crypto';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type pg from 'pg';
import type { Accounts } from './accounts.ts';
import { postgresAdapter } from './adapter.ts';
import type { AuthConfig } from './config.ts';
import { grantableScopes, OIDC_SCOPES } from './grant-scopes.ts';
import { findLaunch, type GrantContexts } from './launch.ts';
import { errorPage } from './pages.ts';
import { splitScopes } from './scopes.ts';

/** What the OAuth engine needs from the rest of the authorization server. */
export interface ProviderDeps {
  /** Issuer URL (`…/auth`); the provider is mounted there. */
  issuer: string;
  /** The FHIR base URL: the only accepted `aud` and the audience of every access token. */
  fhirBase: string;
  pool: pg.Pool;
  config: AuthConfig;
  accounts: Accounts;
  grantContexts: GrantContexts;
  keys: JWK[];
}

/** SMART backend services: a client assertion may live at most five minutes. */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;

/** Cookie signing keys when the operator gave none: random per process (sessions then do not survive a restart). */
const processCookieKeys = [randomBytes(32).toString('base64url')];

/** The keys that sign the authorization server's cookies: COOKIE_KEYS, or random ones for this process. */
export function cookieKeysOf(config: AuthConfig): string[] {
  return config.cookieKeys.length ? config.cookieKeys : processCookieKeys;
}

/**
 * Builds the oidc-provider instance that is Tributary's OAuth 2.0 / OpenID Connect engine, configured for SMART App
 * Launch 2 and Backend Services: PKCE S256 required, `aud` must be the FHIR base, dynamic SMART scopes issued for the
 * FHIR endpoint as opaque tokens (so introspection answers), launch context in the token response, refresh tokens
 * for `offline_access`/`online_access`, private_key_jwt with RS384/ES384 and short-lived assertions.
 */
export function createProvider(deps: ProviderDeps): Provider {
  const { config, fhirBase } = deps;
  const configuration: Configuration = {
    adapter: postgresAdapter(deps.pool),
    jwks: { keys: deps.keys as never },
    cookies: { keys: cookieKeysOf(config) },
    findAccount: async (_ctx, id) => {
      const account = await deps.accounts.find(id);
      if (!account) return undefined;
      return {
        accountId: account.id,
        claims: async () => ({
          sub: account.id,
          fhirUser: account.fhirUser ? `${fhirBase}/${account.fhirUser}` : undefined,
          name: account.name,
          preferred_username: account.username,
        }),
      };
    },
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name', 'preferred_username'] },
    scopes: OIDC_SCOPES,
    conformIdTokenClaims: false,
    routes: {
      authorization: '/authorize',
      token: '/token',
      jwks: '/jwks',
      introspection: '/introspect',
      revocation: '/revoke',
      registration: '/register',
      userinfo: '/userinfo',
      end_session: '/logout',
    },
    interactions: { url: (_ctx, interaction) => `${new URL(deps.issuer).pathname}/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS384', 'ES384', 'RS256', 'ES256', 'PS384'],
      idTokenSigningAlgValues: ['RS256', 'ES384'],
    },
    clientDefaults: { grant_types: ['authorization_code', 'refresh_token'], id_token_signed_response_alg: 'RS256' },
    extraClientMetadata: {
      properties: ['tributary_admin', 'smart_scope'],
      validator: (ctx, key, value) => {
        // Only the admin API may make admin clients; dynamic registration (which passes ctx) may not.
        if (key === 'tributary_admin' && ctx && value !== undefined) {
          throw new errors.InvalidClientMetadata('tributary_admin cannot be registered dynamically');
        }
      },
    },
    extraParams: {
      aud: (_ctx, value) => {
        if (value === undefined) throw new errors.InvalidRequest('the "aud" parameter (the FHIR base URL) is required');
        if (value.replace(/\/$/, '') !== fhirBase) throw new errors.InvalidRequest(`"aud" must be ${fhirBase}`);
      },
      launch: async (_ctx, value) => {
        if (value !== undefined && !(await findLaunch(deps.pool, value))) {
          throw new errors.InvalidRequest('unknown or expired "launch"');
        }
      },
    },
    // oidc-provider refuses to fetch (client JWKS) from private and loopback addresses, against SSRF; operators whose
    // backend services publish their JWKS inside their network switch that off with ALLOW_PRIVATE_JWKS_URI=on.
    ...(config.allowPrivateJwksUri
      ? {
          fetch: (url: string | URL | Request, options?: RequestInit) =>
            fetch(url, { ...options, dispatcher: undefined } as RequestInit),
        }
      : {}),
    assertJwtClientAuthClaimsAndHeader: (_ctx, claims) => {
      const now = Math.floor(Date.now() / 1000);
      if (typeof claims.exp !== 'number' || claims.exp - now > MAX_ASSERTION_LIFETIME_SECONDS) {
        throw new errors.InvalidClientAuth('client assertion "exp" must be at most five minutes in the future');
      }
    },
    features: {
      devInteractions: { enabled: false },
      // Confidential clients (resource servers, backends) may introspect any token; public apps only their own.
      introspection: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) =>
          client.clientAuthMethod !== 'none' || token.clientId === client.clientId,
      },
      revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      registration: { enabled: config.dynamicRegistration },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => fhirBase,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => {
          if (resource.replace(/\/$/, '') !== fhirBase)
            throw new errors.InvalidTarget(`the only resource is ${fhirBase}`);
          return {
            scope: grantableScopes(ctx, client).join(' '),
            audience: fhirBase,
            accessTokenFormat: 'opaque',
            accessTokenTTL: config.accessTokenTtl,
          };
        },
      },
    },
    extraTokenClaims: async (_ctx, token) => {
      const grantId = 'grantId' in token ? token.grantId : undefined;
      if (!grantId) return undefined;
      const context = await deps.grantContexts.find(grantId);
      if (!context) return undefined;
      // fhirUser as in the ID token (an absolute URL), as SMART asks of introspection responses
      return {
        patient: context.patient,
        encounter: context.encounter,
        fhirUser: context.fhirUser ? `${fhirBase}/${context.fhirUser}` : undefined,
      };
    },
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') &&
      (code.scopes.has('offline_access') || code.scopes.has('online_access')),
    ttl: {
      AccessToken: () => config.accessTokenTtl,
      ClientCredentials: () => config.accessTokenTtl,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: 8 * 3600,
      Grant: 90 * 24 * 3600,
      IdToken: 3600,
      // online_access: usable while the user's working day lasts; offline_access: 90 days, prolonged by rotation.
      RefreshToken: (_ctx, token) => (splitScopes(token.scope).includes('offline_access') ? 90 * 24 * 3600 : 8 * 3600),
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(String(out.error), out.error_description ? String(out.error_description) : undefined);
    },
  };
  const provider = new Provider(deps.issuer, configuration);
  provider.proxy = true;
  provider.use(smartTokenResponse(deps.grantContexts, fhirBase));
  return provider;
}

/**
 * Adds the SMART launch context (`patient`, `encounter`, `need_patient_banner`, `smart_style_url`) to token responses,
 * and `fhirUser` (the ID token's absolute URL) when that scope was granted.
 */
function smartTokenResponse(grantContexts: GrantContexts, fhirBase: string) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    await next();
    if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
    const body = ctx.body as Record<string, unknown> | undefined;
    const token = ctx.oidc.entities.AccessToken;
    if (!body?.access_token || !token?.grantId) return;
    // The access token carries the scopes granted for the FHIR endpoint; the response lists the OIDC ones too.
    const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
    const oidc = splitScopes(ctx.oidc.entities.Grant?.getOIDCScope()).filter((s) =>
      splitScopes(source?.scope).includes(s),
    );
    body.scope = [...new Set([...splitScopes(body.scope as string), ...oidc])].join(' ');
    const context = await grantContexts.find(token.grantId);
    if (!context) return;
    if (context.patient) body.patient = context.patient;
    if (context.encounter) body.encounter = context.encounter;
    if (context.patient) body.need_patient_banner = context.needPatientBanner;
    if (context.fhirUser && splitScopes(body.scope as string).includes('fhirUser'))
      body.fhirUser = `${fhirBase}/${context.fhirUser}`;
    body.smart_style_url = `${ctx.oidc.issuer}/smart-style.json`;
  };
}
