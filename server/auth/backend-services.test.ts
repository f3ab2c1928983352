import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, oidcClient, startAuthServer } from '../../test/auth-helpers.ts';

let server: Tributary;
let jwksServer: Server;
let rsKey: CryptoKey;
let esKey: CryptoKey;
let tokenEndpoint: string;

/** Posts a client_credentials request with a hand-made client assertion (for the negative cases). */
async function tokenRequest(assertion: string, scope = 'system/Patient.rs', override: Record<string, string> = {}) {
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      ...override,
    }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}

function assertion(
  clientId: string,
  key: CryptoKey,
  alg: string,
  options: { jti?: string; expiresIn?: number; issuer?: string; audience?: string } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: options.jti ?? randomUUID() })
    .setProtectedHeader({ alg, kid: `${alg}-key` })
    .setIssuer(options.issuer ?? clientId)
    .setSubject(clientId)
    .setAudience(options.audience ?? tokenEndpoint)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 240))
    .sign(key);
}

beforeAll(async () => {
  server = await startAuthServer({ ALLOW_PRIVATE_JWKS_URI: 'on' });
  tokenEndpoint = `${server.url}/auth/token`;
  rsKey = (await generateKeyPair('RS384', { extractable: true })).privateKey;
  esKey = (await generateKeyPair('ES384', { extractable: true })).privateKey;
  const publicJwk = async (key: CryptoKey, alg: string) => {
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = await exportJWK(key);
    return { ...pub, alg, kid: `${alg}-key`, use: 'sig' };
  };
  const esJwks = { keys: [await publicJwk(esKey, 'ES384')] };
  jwksServer = createServer((_req, res) =>
    res.setHeader('content-type', 'application/json').end(JSON.stringify(esJwks)),
  );
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const admin = await adminToken(server);
  const backend = {
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'private_key_jwt',
  };
  await adminApi(server, admin, 'POST', '/admin/clients', {
    ...backend,
    client_id: 'backend-rs384',
    token_endpoint_auth_signing_alg: 'RS384',
    jwks: { keys: [await publicJwk(rsKey, 'RS384')] },
    scope: 'system/Patient.rs system/Observation.cruds',
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    ...backend,
    client_id: 'backend-es384',
    token_endpoint_auth_signing_alg: 'ES384',
    jwks_uri: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`,
    scope: 'system/*.rs',
  });
});
afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

describe('SMART Backend Services: client_credentials with private_key_jwt', () => {
  it('issues a system/ token to an RS384 client with its JWKS given by value (openid-client)', async () => {
    const config = await oidcClient(server, 'backend-rs384', client.PrivateKeyJwt({ key: rsKey, kid: 'RS384-key' }));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'system/Patient.rs system/Observation.c' });
    expect(tokens.scope?.split(' ').sort()).toEqual(['system/Observation.c', 'system/Patient.rs']);
    expect(tokens.expires_in).toBeLessThanOrEqual(3600);
    expect(tokens.refresh_token).toBeUndefined();
    const auth = { authorization: `Bearer ${tokens.access_token}` };
    const created = await fhir(
      server,
      'POST',
      'Observation',
      { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
      auth,
    );
    expect(created.status).toBe(201);
    expect((await fhir(server, 'GET', `Observation/${created.body.id}`, undefined, auth)).status).toBe(403);
    expect((await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' }, auth)).status).toBe(403);
  });

  it('issues a token to an ES384 client whose JWKS is fetched from its jwks_uri', async () => {
    const config = await oidcClient(server, 'backend-es384', client.PrivateKeyJwt({ key: esKey, kid: 'ES384-key' }));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'system/Observation.rs' });
    expect(tokens.scope).toBe('system/Observation.rs');
  });

  it('grants only registered scopes, and no patient/ or user/ scopes', async () => {
    const config = await oidcClient(server, 'backend-rs384', client.PrivateKeyJwt({ key: rsKey, kid: 'RS384-key' }));
    const tokens = await client.clientCredentialsGrant(config, {
      scope: 'system/Patient.rs system/Patient.c patient/*.rs user/*.rs',
    });
    expect(tokens.scope).toBe('system/Patient.rs');
  });

  it('grants no system/ scope to a client registered without scopes', async () => {
    const admin = await adminToken(server);
    const open = await adminApi(server, admin, 'POST', '/admin/clients', {
      client_id: 'no-scopes',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    });
    const config = await oidcClient(server, 'no-scopes', client.ClientSecretBasic(open.client_secret));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'system/*.rs' });
    expect(tokens.scope).toBeUndefined();
    expect(
      (await fhir(server, 'GET', 'Patient/x', undefined, { authorization: `Bearer ${tokens.access_token}` })).status,
    ).toBe(403);
  });

  it('refuses a replayed jti', async () => {
    const jwt = await assertion('backend-rs384', rsKey, 'RS384');
    expect((await tokenRequest(jwt)).status).toBe(200);
    const replay = await tokenRequest(jwt);
    expect(replay.status).toBe(401);
    expect(replay.body.error).toBe('invalid_client');
  });

  it('refuses an assertion that lives longer than five minutes', async () => {
    const res = await tokenRequest(await assertion('backend-rs384', rsKey, 'RS384', { expiresIn: 3600 }));
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('refuses alg none and a signature by the wrong key', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: 'backend-rs384',
      sub: 'backend-rs384',
      aud: tokenEndpoint,
      jti: randomUUID(),
      iat: now,
      exp: now + 60,
    };
    const unsigned = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    const none = await tokenRequest(unsigned);
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('invalid_client');
    const wrongKey = await tokenRequest(await assertion('backend-rs384', esKey, 'ES384'));
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body.error).toBe('invalid_client');
  });

  it('refuses an expired or tampered assertion, and one for another audience or issuer', async () => {
    const expired = await tokenRequest(await assertion('backend-rs384', rsKey, 'RS384', { expiresIn: -60 }));
    expect([expired.status, expired.body.error]).toEqual([401, 'invalid_client']);
    const [header, payload, signature] = (await assertion('backend-rs384', rsKey, 'RS384')).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 1 })).toString('base64url')}.${signature}`;
    const forged = await tokenRequest(tampered);
    expect([forged.status, forged.body.error]).toEqual([401, 'invalid_client']);
    const elsewhere = await tokenRequest(
      await assertion('backend-rs384', rsKey, 'RS384', { audience: 'http://127.0.0.1:9/token' }),
    );
    expect([elsewhere.status, elsewhere.body.error]).toEqual([401, 'invalid_client']);
    const impostor = await tokenRequest(await assertion('backend-rs384', rsKey, 'RS384', { issuer: 'backend-es384' }));
    expect([impostor.status, impostor.body.error]).toEqual([401, 'invalid_client']);
  });
});

describe('Inferno SMART Backend Services checks', () => {
  it('refuses an unsupported grant_type and an invalid client_assertion_type', async () => {
    const grant = await tokenRequest(await assertion('backend-rs384', rsKey, 'RS384'), 'system/Patient.rs', {
      grant_type: 'password',
    });
    expect([grant.status, grant.body.error]).toEqual([400, 'unsupported_grant_type']);
    const type = await tokenRequest(await assertion('backend-rs384', rsKey, 'RS384'), 'system/Patient.rs', {
      client_assertion_type: 'not_an_assertion_type',
    });
    // RFC 6749 §5.2: an unsupported parameter value is an invalid_request (no client was authenticated)
    expect([type.status, type.body.error]).toEqual([400, 'invalid_request']);
  });

  it('answers a correct request with a JSON bearer token response, not cached', async () => {
    const res = await tokenRequest(await assertion('backend-rs384', rsKey, 'RS384'), 'system/Patient.rs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.headers.get('cache-control')).toMatch(/no-store/);
    expect(res.body.access_token).toEqual(expect.any(String));
    expect(res.body.token_type.toLowerCase()).toBe('bearer');
    expect(res.body.expires_in).toBeGreaterThan(0);
    expect(res.body.expires_in).toBeLessThanOrEqual(3600);
    expect(res.body.scope).toBe('system/Patient.rs');
    expect(
      (await fhir(server, 'GET', 'Patient/none', undefined, { authorization: `Bearer ${res.body.access_token}` }))
        .status,
    ).toBe(404);
  });
});
