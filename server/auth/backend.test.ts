import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, ADMIN, authorizeAsUser, oidcClient, startAuthServer } from '../../test/auth-helpers.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startAuthServer();
});
afterAll(async () => {
  await server?.close();
});

describe('FHIR requests need a token', () => {
  it('the landing page at / needs none and links the SMART configuration, which answers', async () => {
    const landing = await (await fetch(server.url, { headers: { accept: 'application/json' } })).json();
    expect(landing.links['SMART configuration']).toBe(`${server.fhirBase}/.well-known/smart-configuration`);
    expect((await fetch(landing.links['SMART configuration'])).status).toBe(200);
  });

  it('answers 401 with WWW-Authenticate and an OperationOutcome without one', async () => {
    const res = await fhir(server, 'GET', 'Patient/1');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${server.fhirBase}"`);
    expect(res.body.issue[0].code).toBe('login');
  });

  it('answers 401 invalid_token for an unknown token', async () => {
    const res = await fhir(server, 'GET', 'Patient/1', undefined, { authorization: 'Bearer not-a-token' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });
});

describe('bootstrap admin client (client_credentials, client_secret_basic)', () => {
  it('gets a system/*.* token with openid-client and uses it', async () => {
    const token = await adminToken(server);
    const auth = { authorization: `Bearer ${token}` };
    const created = await fhir(
      server,
      'POST',
      'Patient',
      { resourceType: 'Patient', name: [{ family: 'Admin' }] },
      auth,
    );
    expect(created.status).toBe(201);
    const read = await fhir(server, 'GET', `Patient/${created.body.id}`, undefined, auth);
    expect(read.status).toBe(200);
    expect(read.body.name[0].family).toBe('Admin');
  });

  it('refuses a wrong client secret with invalid_client', async () => {
    const config = await oidcClient(server, ADMIN.id, client.ClientSecretBasic('wrong'));
    await expect(client.clientCredentialsGrant(config, { scope: 'system/*.*' })).rejects.toMatchObject({
      status: 401,
      cause: [{ parameters: { error: 'invalid_client' } }],
    });
  });
});

describe('admin API', () => {
  const REDIRECT = 'http://127.0.0.1:9/admin-callback';
  const status = async (token: string) =>
    (await fetch(`${server.url}/auth/admin/clients`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('needs an admin whose token reaches everything', async () => {
    const admin = await adminToken(server);
    expect(await status(admin)).toBe(200);
    expect(await status(await adminToken(server, 'system/*.rs'))).toBe(403);
    await adminApi(server, admin, 'POST', '/admin/users', {
      username: 'root',
      password: 'root password',
      role: 'admin',
    });
    await adminApi(server, admin, 'POST', '/admin/users', {
      username: 'doc',
      password: 'doc password',
      role: 'practitioner',
    });
    await adminApi(server, admin, 'POST', '/admin/clients', {
      client_id: 'console',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
    });
    const app = await oidcClient(server, 'console', client.None());
    const userToken = async (scope: string, username: string) => {
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT,
        scope,
        state: 's',
        aud: server.fhirBase,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const { redirect } = await authorizeAsUser(url, { username, password: `${username} password` });
      return (await client.authorizationCodeGrant(app, redirect!, { pkceCodeVerifier: verifier, expectedState: 's' }))
        .access_token;
    };
    expect(await status(await userToken('user/*.*', 'root'))).toBe(200);
    // an app the admin signed in to with narrow scopes gets no admin rights, nor does a full-scope non-admin
    expect(await status(await userToken('user/Observation.rs', 'root'))).toBe(403);
    expect(await status(await userToken('user/*.*', 'doc'))).toBe(403);
  });
});
