import * as client from 'openid-client';
import type { Tributary } from '../server/app.ts';
import { startTestServer } from './harness.ts';

/** The bootstrap admin client every auth test server gets. */
export const ADMIN = { id: 'test-admin', secret: 'test-admin-secret-0123456789' };

/** Starts a test server with authorization on and the bootstrap admin client. */
export function startAuthServer(env: NodeJS.ProcessEnv = {}): Promise<Tributary> {
  return startTestServer(
    {},
    {
      AUTH: 'on',
      ADMIN_CLIENT_ID: ADMIN.id,
      ADMIN_CLIENT_SECRET: ADMIN.secret,
      AUDIT: 'off',
      AUTH_RATE_LIMIT: '0',
      ...env,
    },
  );
}

/** The issuer URL of a test server's authorization server. */
export function issuerOf(server: Tributary): URL {
  return new URL(`${server.url}/auth`);
}

/** openid-client configuration for a client of the test server (plain HTTP allowed: loopback only). */
export async function oidcClient(
  server: Tributary,
  clientId: string,
  auth: client.ClientAuth,
  metadata: Partial<client.ClientMetadata> = {},
): Promise<client.Configuration> {
  return client.discovery(issuerOf(server), clientId, metadata, auth, { execute: [client.allowInsecureRequests] });
}

/** An access token of the bootstrap admin client (client_credentials, client_secret_basic). */
export async function adminToken(server: Tributary, scope = 'system/*.*'): Promise<string> {
  const config = await oidcClient(server, ADMIN.id, client.ClientSecretBasic(ADMIN.secret));
  return (await client.clientCredentialsGrant(config, { scope })).access_token;
}

/** Registers a backend-services client (client_credentials) through the admin API and returns a token for `scope`. */
export async function backendServiceToken(
  server: Tributary,
  admin: string,
  clientId: string,
  scope: string,
): Promise<string> {
  const registered = await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: clientId,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope,
  });
  const config = await oidcClient(server, clientId, client.ClientSecretBasic(registered.client_secret));
  return (await client.clientCredentialsGrant(config, { scope })).access_token;
}

/** Calls the admin API with the admin token; throws on a non-2xx answer. */
export async function adminApi(
  server: Tributary,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  const res = await fetch(`${server.url}/auth${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A minimal cookie jar: what a browser keeps between the redirects of a login. */
export class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const path =
        attrs
          .map((a) => a.trim())
          .find((a) => a.toLowerCase().startsWith('path='))
          ?.slice(5) ?? '/';
      const expired = attrs.some((a) => /^expires=/i.test(a.trim()) && Date.parse(a.trim().slice(8)) < Date.now());
      if (expired || value === '') this.cookies.delete(`${name};${path}`);
      else this.cookies.set(`${name};${path}`, { value, path });
    }
  }

  header(url: string): string {
    const path = new URL(url).pathname;
    return [...this.cookies.entries()]
      .filter(([, c]) => path.startsWith(c.path))
      .map(([key, c]) => `${key.split(';')[0]}=${c.value}`)
      .join('; ');
  }
}

/** One browser-like request: cookies sent and kept, redirects not followed. */
export async function browse(
  jar: CookieJar,
  url: string,
  form?: URLSearchParams,
): Promise<{ status: number; location?: string; body: string; url: string }> {
  const res = await fetch(url, {
    method: form ? 'POST' : 'GET',
    redirect: 'manual',
    headers: { cookie: jar.header(url), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    body: form,
  });
  jar.store(res);
  const location = res.headers.get('location');
  return {
    status: res.status,
    location: location ? new URL(location, url).toString() : undefined,
    body: await res.text(),
    url,
  };
}

/** What a user does on the login and consent pages. */
export interface UserActions {
  username: string;
  password: string;
  /** The patient picked for a standalone launch. */
  patient?: string;
  /** Scopes to untick on the consent page. */
  untick?: string[];
  /** Deny instead of allowing. */
  deny?: boolean;
}

/**
 * Follows an authorization request through login and consent like a browser would, and returns the final redirect
 * to the client's redirect_uri (or the last page when it does not get there). With `POST`, the request starts as a form
 * POST of the URL's parameters to the authorization endpoint (SMART `authorize-post`).
 */
export async function authorizeAsUser(
  authorizeUrl: URL,
  user: UserActions,
  jar = new CookieJar(),
  method: 'GET' | 'POST' = 'GET',
): Promise<{ redirect?: URL; last: { status: number; body: string; url: string } }> {
  let step =
    method === 'POST'
      ? await browse(jar, `${authorizeUrl.origin}${authorizeUrl.pathname}`, authorizeUrl.searchParams)
      : await browse(jar, authorizeUrl.toString());
  for (let i = 0; i < 10; i++) {
    if (step.location) {
      if (!step.location.includes('/auth/')) return { redirect: new URL(step.location), last: step };
      step = await browse(jar, step.location);
      continue;
    }
    if (step.status !== 200) return { last: step };
    if (step.body.includes('id="sign-in"')) {
      step = await browse(
        jar,
        `${step.url}/login`,
        new URLSearchParams({ username: user.username, password: user.password }),
      );
      continue;
    }
    if (step.body.includes('id="approve"')) {
      const form = new URLSearchParams({ decision: user.deny ? 'deny' : 'approve' });
      for (const m of step.body.matchAll(/name="scope" value="([^"]+)"/g)) {
        const scope = m[1].replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c)));
        if (!user.untick?.includes(scope)) form.append('scope', scope);
      }
      if (user.patient) form.set('patient', user.patient);
      step = await browse(jar, `${step.url}/consent`, form);
      continue;
    }
    return { last: step };
  }
  return { last: step };
}

/**
 * An access token from an authorization-code flow of a public client (PKCE), as a user: an EHR launch with
 * `launchPatient` as its context when given (made with the admin API), else a standalone launch in which the user
 * picks `user.patient` when asked.
 */
export async function launchToken(
  server: Tributary,
  admin: string,
  app: client.Configuration,
  redirectUri: string,
  scope: string,
  user: UserActions,
  launchPatient?: string,
): Promise<string> {
  const verifier = client.randomPKCECodeVerifier();
  const extra: Record<string, string> = {};
  if (launchPatient)
    extra.launch = (await adminApi(server, admin, 'POST', '/launch', { patient: launchPatient })).launch;
  const url = client.buildAuthorizationUrl(app, {
    redirect_uri: redirectUri,
    scope,
    state: 's',
    aud: server.fhirBase,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  const { redirect } = await authorizeAsUser(url, user);
  if (!redirect) throw new Error(`no redirect back to the app for scope "${scope}"`);
  return (await client.authorizationCodeGrant(app, redirect, { pkceCodeVerifier: verifier, expectedState: 's' }))
    .access_token;
}
