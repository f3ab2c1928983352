import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import {
  ADMIN,
  adminApi,
  adminToken,
  browse,
  CookieJar,
  oidcClient,
  startAuthServer,
} from '../../test/auth-helpers.ts';

/*
 * Values Postgres cannot hold (NUL, lone surrogates) in every place the authorization server reads them: a lookup
 * finds nothing, a write is refused with 400 invalid_request, and nothing answers 500.
 */

const REDIRECT = 'http://127.0.0.1:9/callback';
let server: Tributary;
let admin: string;
let app: client.Configuration;

beforeAll(async () => {
  server = await startAuthServer();
  admin = await adminToken(server);
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'bad-input-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
  app = await oidcClient(server, 'bad-input-app', client.None());
});
afterAll(async () => {
  await server?.close();
});

function authorizationUrl(extra: Record<string, string>): string {
  const url = client.buildAuthorizationUrl(app, {
    redirect_uri: REDIRECT,
    scope: 'openid launch patient/*.rs',
    aud: server.fhirBase,
    code_challenge: 'a'.repeat(43),
    code_challenge_method: 'S256',
    state: 'fine',
  });
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.toString();
}

describe('the authorization endpoint', () => {
  it('an unknown client_id made of NUL or a lone surrogate is an unknown client (400 page), not a server error', async () => {
    for (const id of ['%00', '%ED%A0%80', 'a%00b']) {
      const res = await fetch(`${server.url}/auth/authorize?client_id=${id}&response_type=code`, {
        redirect: 'manual',
      });
      expect(res.status, id).toBe(400);
    }
  });

  it('NUL in a launch id, state or nonce is refused as invalid_request, back to the app', async () => {
    for (const extra of [{ launch: '\u0000' }, { state: 'a\u0000' }, { nonce: 'n\u0000' }] as Record<
      string,
      string
    >[]) {
      const res = await fetch(authorizationUrl(extra), { redirect: 'manual' });
      expect(res.status, JSON.stringify(extra)).toBeLessThan(500);
      const location = res.headers.get('location');
      if (location) expect(new URL(location, server.url).searchParams.get('error')).toBe('invalid_request');
      else expect(res.status).toBe(400);
    }
  });

  it('a login with NUL in the username is a wrong login (401 page), not a server error', async () => {
    const jar = new CookieJar();
    const start = await browse(jar, authorizationUrl({}));
    expect(start.location).toMatch(/\/auth\/interaction\//);
    const page = await browse(jar, start.location as string);
    expect(page.body).toContain('id="sign-in"');
    const login = await browse(
      jar,
      `${page.url}/login`,
      new URLSearchParams({ username: 'nurse\u0000', password: 'whatever' }),
    );
    expect(login.status).toBe(401);
    expect(login.body).toContain('Wrong username or password');
  });
});

describe('token, introspection and revocation', () => {
  const basic = {
    authorization: `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
  };

  it('a token of NUL is not active, cannot be revoked, and no grant accepts it', async () => {
    const introspect = await fetch(`${server.url}/auth/introspect`, {
      method: 'POST',
      headers: basic,
      body: 'token=%00',
    });
    expect(introspect.status).toBe(200);
    expect(await introspect.json()).toEqual({ active: false });
    expect(
      (await fetch(`${server.url}/auth/revoke`, { method: 'POST', headers: basic, body: 'token=a%00' })).status,
    ).toBe(200);
    const refresh = await fetch(`${server.url}/auth/token`, {
      method: 'POST',
      headers: basic,
      body: 'grant_type=refresh_token&refresh_token=%00',
    });
    expect(refresh.status).toBe(400);
    expect((await refresh.json()).error).toMatch(/^invalid_/);
  });

  it('dynamic registration refuses metadata holding NUL with invalid_request', async () => {
    const res = await fetch(`${server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        client_name: 'evil\u0000',
        token_endpoint_auth_method: 'none',
      }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe('invalid_request');
  });
});

describe('the admin API', () => {
  const call = (method: string, path: string, body?: string) =>
    fetch(`${server.url}/auth${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body,
    });

  it('refuses JSON bodies holding NUL, lone surrogates or numbers out of range with 400 invalid_request', async () => {
    for (const [path, body] of [
      ['/admin/users', '{"username":"a\\u0000","password":"a long passphrase","role":"practitioner"}'],
      ['/admin/users', '{"username":"u","password":"\\ud800","role":"patient"}'],
      ['/launch', '{"patient":"\\u0000"}'],
      ['/admin/clients', '{"client_id":"x\\u0000","redirect_uris":["http://127.0.0.1:9/cb"]}'],
      ['/admin/clients', '{"client_id":"big","redirect_uris":["http://127.0.0.1:9/cb"],"default_max_age":1e999999}'],
    ]) {
      const res = await call('POST', path, body);
      expect(res.status, body).toBe(400);
      expect((await res.json()).error, body).toBe('invalid_request');
    }
  });

  it('a client id of NUL in the path is not found', async () => {
    expect((await call('GET', '/admin/clients/%00')).status).toBe(404);
    expect((await call('DELETE', '/admin/clients/a%00')).status).toBeLessThan(500);
  });
});
