import * as client from 'openid-client';
import type { Tributary } from '../app.ts';
import { startTestServer } from '../../test/harness.ts';

/** The bootstrap admin client every auth test server gets. */
export const ADMIN = { id: 'test-admin', secret: 'test-admin-secret-0123456789' };

/** Starts a test server with authorization on and the bootstrap admin client. */
export function startAuthServer(env: NodeJS.ProcessEnv = {}): Promise<Tributary> {
  return startTestServer({}, { AUTH: 'on', ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret, AUDIT: 'off', ...env });
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

/** Calls the admin API with the admin token; throws on a non-2xx answer. */
export async function adminApi(server: Tributary, token: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${server.url}/auth${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
