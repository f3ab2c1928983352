import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import {
  adminApi,
  adminToken,
  authorizeAsUser,
  browse,
  CookieJar,
  oidcClient,
  startAuthServer,
} from '../../test/auth-helpers.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const USER = { username: 'nurse', password: 'a long passphrase', patient: '' };
let server: Tributary;
let admin: string;
let app: client.Configuration;

beforeAll(async () => {
  server = await startAuthServer({ LOGIN_MAX_FAILURES: '3' });
  admin = await adminToken(server);
  USER.patient = (
    await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' }, { authorization: `Bearer ${admin}` })
  ).body.id;
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: USER.username,
    password: USER.password,
    role: 'practitioner',
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'neg-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
  });
  app = await oidcClient(server, 'neg-app', client.None());
});
afterAll(async () => {
  await server?.close();
});

/** An authorization URL with PKCE; `override` replaces or (with undefined) removes parameters. */
async function authorizationUrl(override: Record<string, string | undefined> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const params: Record<string, string | undefined> = {
    redirect_uri: REDIRECT,
    scope: 'launch/patient patient/*.rs',
    state: client.randomState(),
    aud: server.fhirBase,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...override,
  };
  const defined = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
  return { url: client.buildAuthorizationUrl(app, defined), verifier, state: defined.state };
}

/** Posts to the token endpoint as the public client. */
async function tokenEndpoint(params: Record<string, string>) {
  const res = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'neg-app', ...params }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function codeFor(override: Record<string, string | undefined> = {}) {
  const { url, verifier } = await authorizationUrl(override);
  const { redirect } = await authorizeAsUser(url, USER);
  return { code: redirect!.searchParams.get('code')!, verifier };
}

describe('authorization request errors', () => {
  it('refuses a wrong aud with invalid_request, back to the app', async () => {
    const { url, state } = await authorizationUrl({ aud: 'http://127.0.0.1:1/other/fhir' });
    const { redirect } = await authorizeAsUser(url, USER);
    expect(redirect?.searchParams.get('error')).toBe('invalid_request');
    expect(redirect?.searchParams.get('error_description')).toMatch(/aud/);
    expect(redirect?.searchParams.get('state')).toBe(state);
  });

  it('refuses a request without aud', async () => {
    const { url } = await authorizationUrl({ aud: undefined });
    expect((await authorizeAsUser(url, USER)).redirect?.searchParams.get('error')).toBe('invalid_request');
  });

  it('refuses a request without PKCE', async () => {
    const { url } = await authorizationUrl({ code_challenge: undefined, code_challenge_method: undefined });
    const { redirect } = await authorizeAsUser(url, USER);
    expect(redirect?.searchParams.get('error')).toBe('invalid_request');
    expect(redirect?.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('refuses plain PKCE', async () => {
    const { url } = await authorizationUrl({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    expect((await authorizeAsUser(url, USER)).redirect?.searchParams.get('error')).toBe('invalid_request');
  });

  it('does not redirect to an unregistered redirect_uri', async () => {
    const { url } = await authorizationUrl({ redirect_uri: 'http://127.0.0.1:9/evil' });
    const { redirect, last } = await authorizeAsUser(url, USER);
    expect(redirect).toBeUndefined();
    expect(last.status).toBe(400);
    expect(last.body).toContain('redirect_uri');
  });
});

describe('token request errors', () => {
  it('refuses a missing or wrong code_verifier with invalid_grant', async () => {
    const { code } = await codeFor();
    const missing = await tokenEndpoint({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('invalid_grant');
    const second = await codeFor();
    const wrong = await tokenEndpoint({
      grant_type: 'authorization_code',
      code: second.code,
      redirect_uri: REDIRECT,
      code_verifier: client.randomPKCECodeVerifier(),
    });
    expect(wrong.body.error).toBe('invalid_grant');
  });

  it('refuses a replayed code with invalid_grant and revokes what it gave', async () => {
    const { code, verifier } = await codeFor();
    const first = await tokenEndpoint({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    });
    expect(first.status).toBe(200);
    const replay = await tokenEndpoint({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    const use = await fhir(server, 'GET', `Patient/${USER.patient}`, undefined, {
      authorization: `Bearer ${first.body.access_token}`,
    });
    expect(use.status).toBe(401);
  });

  it('refuses a redirect_uri that differs from the authorization request', async () => {
    const { code, verifier } = await codeFor();
    const res = await tokenEndpoint({
      grant_type: 'authorization_code',
      code,
      redirect_uri: 'http://127.0.0.1:9/other',
      code_verifier: verifier,
    });
    expect(res.body.error).toBe('invalid_grant');
  });
});

describe('access token errors at the FHIR endpoint', () => {
  async function token() {
    const { code, verifier } = await codeFor();
    return (
      await tokenEndpoint({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier })
    ).body.access_token as string;
  }

  it('refuses a tampered token', async () => {
    const t = await token();
    const tampered = t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A');
    const res = await fhir(server, 'GET', `Patient/${USER.patient}`, undefined, {
      authorization: `Bearer ${tampered}`,
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('refuses an expired token', async () => {
    const t = await token();
    // Age the stored token (before its first use, which would cache it for a few seconds): exp moves into the past.
    const pool = server.pool;
    await pool.query(
      `UPDATE oidc_payload SET payload = jsonb_set(payload, '{exp}', to_jsonb(extract(epoch FROM now())::bigint - 10)) WHERE model = 'AccessToken' AND id = $1`,
      [t],
    );
    const res = await fhir(server, 'GET', `Patient/${USER.patient}`, undefined, { authorization: `Bearer ${t}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('refuses a token issued for another audience', async () => {
    const t = await token();
    await server.pool.query(
      `UPDATE oidc_payload SET payload = jsonb_set(payload, '{aud}', '"http://elsewhere/fhir"') WHERE model = 'AccessToken' AND id = $1`,
      [t],
    );
    expect(
      (await fhir(server, 'GET', `Patient/${USER.patient}`, undefined, { authorization: `Bearer ${t}` })).status,
    ).toBe(401);
  });

  it('answers 403 with an OperationOutcome for insufficient scope', async () => {
    const t = await token();
    const res = await fhir(server, 'DELETE', `Patient/${USER.patient}`, undefined, { authorization: `Bearer ${t}` });
    expect(res.status).toBe(403);
    expect(res.body.issue[0].code).toBe('forbidden');
  });
});

describe('local login lockout', () => {
  it('locks an account after repeated failures, even for the right password', async () => {
    await adminApi(server, admin, 'POST', '/admin/users', {
      username: 'victim',
      password: 'right password',
      role: 'practitioner',
    });
    const { url } = await authorizationUrl();
    const jar = new CookieJar();
    const first = await browse(jar, url.toString());
    const page = await browse(jar, first.location!);
    for (let i = 0; i < 3; i++) {
      const wrong = await browse(
        jar,
        `${page.url}/login`,
        new URLSearchParams({ username: 'victim', password: `wrong ${i}` }),
      );
      expect(wrong.status).toBe(401);
      expect(wrong.body).toContain('Wrong username or password');
    }
    const locked = await browse(
      jar,
      `${page.url}/login`,
      new URLSearchParams({ username: 'victim', password: 'right password' }),
    );
    expect(locked.status).toBe(401);
    expect(locked.body).toContain('locked');
  });
});
