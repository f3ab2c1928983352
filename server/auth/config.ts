import { ROLES, type Role } from './policy.ts';

/** Settings of SMART authorization, read from the environment (README: "Authorization"). */
export interface AuthConfig {
  /** `AUTH=off` disables authorization entirely (local demos only). */
  enabled: boolean;
  /** Bootstrap confidential client (client_credentials, client_secret_basic, `system/*.*`). */
  adminClientId?: string;
  adminClientSecret?: string;
  /** Bootstrap local admin user for the login page. */
  adminUser?: string;
  adminPassword?: string;
  /** RFC 7591 dynamic client registration at `/auth/register`. */
  dynamicRegistration: boolean;
  /** Access token lifetime in seconds. */
  accessTokenTtl: number;
  /** Days between signing key rotations. */
  keyRotationDays: number;
  /** Requests per minute per client IP on the authorization endpoints (0: unlimited). */
  authRateLimit: number;
  /** Requests per minute per OAuth client on the FHIR API (0: unlimited). */
  apiRateLimit: number;
  /** Failed password logins before an account is locked, and for how long. */
  loginMaxFailures: number;
  loginLockMinutes: number;
  /** Let oidc-provider fetch client JWKS (`jwks_uri`) from private and loopback addresses. */
  allowPrivateJwksUri: boolean;
  /** Write an AuditEvent for every authorization decision and resource access. */
  audit: boolean;
  /** Secrets that sign the authorization server's cookies (comma-separated; the first signs). */
  cookieKeys: string[];
  /** Login through an upstream OpenID Connect IdP (Keycloak, Entra ID), when its issuer is set. */
  upstream?: UpstreamIdpConfig;
}

/** An upstream OpenID Connect identity provider users may log in with. */
export interface UpstreamIdpConfig {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** Label of the login button. */
  name: string;
  /** Role of users created on their first upstream login. */
  defaultRole: Role;
}

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

/** Reads the authorization settings; on by default, `AUTH=off` for demos. */
export function loadAuthConfig(env: NodeJS.ProcessEnv): AuthConfig {
  const role = (env.OIDC_DEFAULT_ROLE || 'practitioner') as Role;
  if (!ROLES.includes(role)) throw new Error(`OIDC_DEFAULT_ROLE must be one of ${ROLES.join(', ')}, got "${role}"`);
  // Every variable is read whether or not it matters, so the set of variables read is the documented one.
  const upstream: UpstreamIdpConfig = {
    issuer: env.OIDC_ISSUER || '',
    clientId: env.OIDC_CLIENT_ID || '',
    clientSecret: env.OIDC_CLIENT_SECRET || undefined,
    name: env.OIDC_NAME || 'single sign-on',
    defaultRole: role,
  };
  return {
    enabled: env.AUTH !== 'off',
    adminClientId: env.ADMIN_CLIENT_ID || undefined,
    adminClientSecret: env.ADMIN_CLIENT_SECRET || undefined,
    adminUser: env.ADMIN_USER || undefined,
    adminPassword: env.ADMIN_PASSWORD || undefined,
    dynamicRegistration: env.DYNAMIC_REGISTRATION !== 'off',
    accessTokenTtl: intEnv(env, 'ACCESS_TOKEN_TTL', 3600),
    keyRotationDays: intEnv(env, 'KEY_ROTATION_DAYS', 90) || 90,
    authRateLimit: intEnv(env, 'AUTH_RATE_LIMIT', 300),
    apiRateLimit: intEnv(env, 'API_RATE_LIMIT', 0),
    loginMaxFailures: intEnv(env, 'LOGIN_MAX_FAILURES', 5),
    loginLockMinutes: intEnv(env, 'LOGIN_LOCK_MINUTES', 15),
    allowPrivateJwksUri: env.ALLOW_PRIVATE_JWKS_URI === 'on',
    audit: env.AUDIT !== 'off',
    cookieKeys: (env.COOKIE_KEYS || '').split(',').filter(Boolean),
    upstream: upstream.issuer ? upstream : undefined,
  };
}
