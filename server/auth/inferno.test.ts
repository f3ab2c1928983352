import type { CapabilityStatementRestSecurity } from '@medplum/fhirtypes';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, authorizeAsUser, oidcClient, startAuthServer } from '../../test/auth-helpers.ts';

/**
 * The checks of the Inferno SMART App Launch (STU2) test kit, written as our own tests since Inferno cannot run here:
 * discovery, standalone and EHR launch token responses, OpenID Connect ID token, token refresh, token introspection
 * (backend services: backend-services.test.ts); plus key rotation and RFC 7591 dynamic registration.
 */

const REDIRECT = 'http://127.0.0.1:9/inferno';
let server: Tributary;
let admin: string;
let app: client.Configuration;
let patient: string;
let practitioner: string;

beforeAll(async () => {
  server = await startAuthServer();
  admin = await adminToken(server);
  const auth = { authorization: `Bearer ${admin}` };
  patient = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Inferno' }] }, auth))
    .body.id;
  practitioner = (
    await fhir(server, 'POST', 'Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Smart' }] }, auth)
  ).body.id;
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'inferno',
    password: 'inferno password',
    role: 'practitioner',
    fhirUser: `Practitioner/${practitioner}`,
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'inferno-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
  });
  app = await oidcClient(server, 'inferno-app', client.None());
});
afterAll(async () => {
  await server?.close();
});

async function launch(scope: string, extra: Record<string, string> = {}, clientConfig = app) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(clientConfig, {
    redirect_uri: REDIRECT,
    scope,
    state,
    aud: server.fhirBase,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  const { redirect } = await authorizeAsUser(url, { username: 'inferno', password: 'inferno password', patient });
  const code = redirect!.searchParams.get('code')!;
  expect(redirect!.searchParams.get('state')).toBe(state);
  // raw token request, to see the HTTP headers Inferno checks
  const res = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: String(clientConfig.clientMetadata().client_id),
    }),
  });
  return { res, body: (await res.json()) as Record<string, any> };
}

describe('Discovery', () => {
  it('serves the SMART configuration at the FHIR base and the root, with the required fields', async () => {
    const atBase = await fetch(`${server.fhirBase}/.well-known/smart-configuration`);
    expect(atBase.status).toBe(200);
    expect(atBase.headers.get('content-type')).toMatch(/application\/json/);
    const config = await atBase.json();
    expect(await (await fetch(`${server.url}/.well-known/smart-configuration`)).json()).toEqual(config);
    for (const field of [
      'issuer',
      'jwks_uri',
      'authorization_endpoint',
      'token_endpoint',
      'grant_types_supported',
      'capabilities',
      'code_challenge_methods_supported',
      'introspection_endpoint',
      'revocation_endpoint',
    ]) {
      expect(config[field], field).toBeDefined();
    }
    expect(config.code_challenge_methods_supported).toEqual(['S256']);
    expect(config.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'client_credentials']));
    expect(config.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS384', 'ES384']));
    expect(config.capabilities).toEqual(
      expect.arrayContaining([
        'launch-ehr',
        'launch-standalone',
        'authorize-post',
        'client-public',
        'client-confidential-asymmetric',
        'context-ehr-patient',
        'context-standalone-patient',
        'permission-v1',
        'permission-v2',
        'permission-offline',
        'sso-openid-connect',
      ]),
    );
    // the OpenID configuration agrees with it
    const oidc = await (await fetch(`${config.issuer}/.well-known/openid-configuration`)).json();
    for (const field of [
      'issuer',
      'jwks_uri',
      'authorization_endpoint',
      'token_endpoint',
      'introspection_endpoint',
      'revocation_endpoint',
    ]) {
      expect(oidc[field], field).toBe(config[field]);
    }
  });

  it('describes the SMART security in the CapabilityStatement with the oauth-uris extension', async () => {
    const metadata = await fhir(server, 'GET', 'metadata');
    expect(metadata.status).toBe(200);
    const security = metadata.body.rest[0].security as CapabilityStatementRestSecurity;
    expect(security.service?.[0].coding?.[0]).toEqual({
      system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
      code: 'SMART-on-FHIR',
    });
    const uris = Object.fromEntries(security.extension![0].extension!.map((e) => [e.url, e.valueUri]));
    const config = await (await fetch(`${server.fhirBase}/.well-known/smart-configuration`)).json();
    expect(uris).toMatchObject({
      authorize: config.authorization_endpoint,
      token: config.token_endpoint,
      introspect: config.introspection_endpoint,
      revoke: config.revocation_endpoint,
    });
  });

  it('lets anyone read the CapabilityStatement route and SMART configuration without a token (CORS too)', async () => {
    for (const path of ['.well-known/smart-configuration', 'metadata']) {
      const res = await fetch(`${server.fhirBase}/${path}`, { headers: { origin: 'http://127.0.0.1:9' } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('access-control-allow-origin'), path).toBe('*');
    }
  });
});

describe('Standalone launch and OpenID Connect', () => {
  it('returns a complete token response with no-store caching and a valid ID token whose fhirUser resolves', async () => {
    const { res, body } = await launch('openid fhirUser launch/patient patient/*.rs offline_access');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/no-store/);
    expect(body.token_type.toLowerCase()).toBe('bearer');
    expect(body.expires_in).toBeGreaterThan(0);
    expect(body.patient).toBe(patient);
    expect(body.scope.split(' ')).toEqual(
      expect.arrayContaining(['openid', 'fhirUser', 'launch/patient', 'patient/*.rs', 'offline_access']),
    );
    expect(body.refresh_token).toBeTruthy();

    const config = await (await fetch(`${server.fhirBase}/.well-known/smart-configuration`)).json();
    expect(decodeProtectedHeader(body.id_token).alg).toBe('RS256');
    const { payload } = await jwtVerify(body.id_token, createRemoteJWKSet(new URL(config.jwks_uri)), {
      issuer: config.issuer,
      audience: 'inferno-app',
    });
    expect(payload.fhirUser).toBe(`${server.fhirBase}/Practitioner/${practitioner}`);
    expect(body.fhirUser).toBe(payload.fhirUser);
    const me = await fhir(server, 'GET', `Practitioner/${practitioner}`, undefined, {
      authorization: `Bearer ${body.access_token}`,
    });
    expect(me.status).toBe(200);
    const pt = await fhir(server, 'GET', `Patient/${patient}`, undefined, {
      authorization: `Bearer ${body.access_token}`,
    });
    expect(pt.body.name[0].family).toBe('Inferno');
  });
});

describe('EHR launch', () => {
  it('binds the EHR launch context and returns it in the token response, with the ID token', async () => {
    const context = await adminApi(server, admin, 'POST', '/launch', { patient, encounter: 'enc-inferno' });
    const { res, body } = await launch('launch openid fhirUser patient/*.rs', { launch: context.launch });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/no-store/);
    expect(body).toMatchObject({ patient, encounter: 'enc-inferno', need_patient_banner: false });
    expect(body.scope.split(' ')).toEqual(expect.arrayContaining(['launch', 'openid', 'fhirUser', 'patient/*.rs']));
    const style = await fetch(body.smart_style_url);
    expect(style.status).toBe(200);
    expect(await style.json()).toHaveProperty('color_background');
    const { payload } = await jwtVerify(body.id_token, createRemoteJWKSet(new URL(`${server.url}/auth/jwks`)), {
      issuer: `${server.url}/auth`,
      audience: 'inferno-app',
    });
    expect(payload.fhirUser).toBe(`${server.fhirBase}/Practitioner/${practitioner}`);
    expect(
      (await fhir(server, 'GET', `Patient/${patient}`, undefined, { authorization: `Bearer ${body.access_token}` }))
        .status,
    ).toBe(200);
  });
});

describe('Capabilities as served', () => {
  it('gives profile claims in the ID token for the profile scope', async () => {
    const { body } = await launch('openid profile launch/patient patient/*.rs');
    const { payload } = await jwtVerify(body.id_token, createRemoteJWKSet(new URL(`${server.url}/auth/jwks`)));
    expect(payload.preferred_username).toBe('inferno');
  });

  it('authorize-post: a code flow that starts with a form POST to the authorization endpoint', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(app, {
      redirect_uri: REDIRECT,
      scope: 'openid fhirUser launch/patient patient/*.rs offline_access',
      state,
      aud: server.fhirBase,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const user = { username: 'inferno', password: 'inferno password', patient };
    const { redirect } = await authorizeAsUser(url, user, undefined, 'POST');
    expect(redirect?.searchParams.get('state')).toBe(state);
    const tokens = await client.authorizationCodeGrant(app, redirect!, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.patient).toBe(patient);
    // offline_access without prompt=consent is kept for a POST as for a GET (refresh token)
    expect(tokens.scope?.split(' ')).toContain('offline_access');
    expect(tokens.refresh_token).toBeTruthy();
    const read = await fhir(server, 'GET', `Patient/${patient}`, undefined, {
      authorization: `Bearer ${tokens.access_token}`,
    });
    expect(read.status).toBe(200);
  });

  it('authorize-post: errors come from the provider (bad client, duplicated parameter) or are a 4xx page, never a 5xx', async () => {
    const post = (body: string, type = 'application/x-www-form-urlencoded', query = '') =>
      fetch(`${server.url}/auth/authorize${query}`, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
        redirect: 'manual',
      });
    const unknown = await post(new URLSearchParams({ client_id: 'no-such-app', response_type: 'code' }).toString());
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('invalid_client');
    const twice = await post(
      new URLSearchParams({ client_id: 'inferno-app', response_type: 'code', scope: 'openid' }).toString(),
      undefined,
      '?scope=openid',
    );
    // a client with one redirect URI gets the error there, as for a GET
    expect(twice.status).toBe(303);
    const error = new URL(twice.headers.get('location') ?? '', server.url);
    expect(`${error.origin}${error.pathname}`).toBe(REDIRECT);
    expect(error.searchParams.get('error')).toBe('invalid_request');
    expect(error.searchParams.get('error_description')).toMatch(/scope/);
    const json = await post(JSON.stringify({ client_id: 'inferno-app' }), 'application/json');
    expect(json.status).toBe(400);
    for (const body of ['client_id=%E0%A4%A', 'client_id=a%00b&response_type=code', 'x='.padEnd(100_000, 'y')]) {
      const res = await post(body);
      expect(res.status, body.slice(0, 30)).toBeGreaterThanOrEqual(400);
      expect(res.status, body.slice(0, 30)).toBeLessThan(500);
    }
  });
});

describe('Token refresh', () => {
  it('gives online_access a refresh token for the working day, offline_access one for 90 days', async () => {
    const lifetime = async (scope: string) => {
      const { body } = await launch(`launch/patient patient/*.rs ${scope}`);
      expect(body.refresh_token, scope).toBeTruthy();
      const row = await server.pool.query("SELECT payload FROM oidc_payload WHERE model = 'RefreshToken' AND id = $1", [
        body.refresh_token,
      ]);
      return row.rows[0].payload.exp - row.rows[0].payload.iat;
    };
    expect(await lifetime('online_access')).toBe(8 * 3600);
    expect(await lifetime('offline_access')).toBe(90 * 24 * 3600);
    const { body } = await launch('launch/patient patient/*.rs');
    expect(body.refresh_token).toBeUndefined();
  });

  it('refreshes, also with a narrower scope, keeping the patient context', async () => {
    const { body } = await launch('launch/patient patient/Patient.rs patient/Observation.rs offline_access');
    const refresh = async (refreshToken: string, scope?: string) => {
      const res = await fetch(`${server.url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          client_id: 'inferno-app',
          ...(scope ? { scope } : {}),
        }),
      });
      return { res, json: (await res.json()) as Record<string, any> };
    };
    const narrowed = await refresh(body.refresh_token, 'launch/patient patient/Patient.rs offline_access');
    expect(narrowed.res.status).toBe(200);
    expect(narrowed.res.headers.get('cache-control')).toMatch(/no-store/);
    expect(narrowed.json.patient).toBe(patient);
    expect(narrowed.json.scope.split(' ')).not.toContain('patient/Observation.rs');
    const auth = { authorization: `Bearer ${narrowed.json.access_token}` };
    expect((await fhir(server, 'GET', `Patient/${patient}`, undefined, auth)).status).toBe(200);
    expect((await fhir(server, 'GET', 'Observation/any', undefined, auth)).status).toBe(403);
    // public clients' refresh tokens rotate; the next one still carries the whole grant
    const same = await refresh(narrowed.json.refresh_token ?? body.refresh_token);
    expect(same.json.scope.split(' ')).toContain('patient/Observation.rs');
  });
});

describe('Token introspection', () => {
  it('answers inactive for unknown tokens', async () => {
    const backend = await adminApi(server, admin, 'POST', '/admin/clients', {
      client_id: 'resource-server',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    });
    const rs = await oidcClient(server, 'resource-server', client.ClientSecretBasic(backend.client_secret));
    expect((await client.tokenIntrospection(rs, 'nonsense')).active).toBe(false);
    const { body } = await launch('launch/patient patient/*.rs');
    const info = await client.tokenIntrospection(rs, body.access_token);
    expect(info).toMatchObject({ active: true, client_id: 'inferno-app', patient });
  });

  it('answers the fields SMART requires: scope and exp as in the token response, launch context, ID token claims', async () => {
    const backend = await adminApi(server, admin, 'POST', '/admin/clients', {
      client_id: 'resource-server-2',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    });
    const rs = await oidcClient(server, 'resource-server-2', client.ClientSecretBasic(backend.client_secret));
    const before = Math.floor(Date.now() / 1000);
    const { body } = await launch('openid fhirUser launch/patient patient/*.rs');
    const info = await client.tokenIntrospection(rs, body.access_token);
    expect(info.active).toBe(true);
    expect(String(info.scope).split(' ').sort()).toEqual(body.scope.split(' ').sort());
    expect(info.client_id).toBe('inferno-app');
    expect(info.exp).toBeGreaterThanOrEqual(before + body.expires_in);
    expect(info.exp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + body.expires_in);
    expect(info.patient).toBe(patient);
    const { payload } = await jwtVerify(body.id_token, createRemoteJWKSet(new URL(`${server.url}/auth/jwks`)));
    expect(info).toMatchObject({ iss: payload.iss, sub: payload.sub, fhirUser: payload.fhirUser });
  });
});

describe('Key rotation', () => {
  it('publishes the new key, signs with it, and still accepts tokens issued before', async () => {
    const before = await launch('openid launch/patient patient/*.rs');
    const jwksBefore = await (await fetch(`${server.url}/auth/jwks`)).json();
    await server.auth.rotateKeys();
    const jwksAfter = await (await fetch(`${server.url}/auth/jwks`)).json();
    expect(jwksAfter.keys.length).toBeGreaterThan(jwksBefore.keys.length);
    for (const k of jwksAfter.keys) expect(k.d).toBeUndefined();
    const after = await launch('openid launch/patient patient/*.rs');
    expect(decodeProtectedHeader(after.body.id_token).kid).not.toBe(decodeProtectedHeader(before.body.id_token).kid);
    await jwtVerify(before.body.id_token, createRemoteJWKSet(new URL(`${server.url}/auth/jwks`)));
    expect(
      (
        await fhir(server, 'GET', `Patient/${patient}`, undefined, {
          authorization: `Bearer ${before.body.access_token}`,
        })
      ).status,
    ).toBe(200);
  });
});

describe('Dynamic client registration (RFC 7591)', () => {
  it('registers a public SMART app that can launch', async () => {
    const res = await fetch(`${server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Registered app',
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        scope: 'launch/patient patient/*.rs openid',
      }),
    });
    expect(res.status).toBe(201);
    const registered = await res.json();
    expect(registered.client_id).toBeTruthy();
    const config = await oidcClient(server, registered.client_id, client.None());
    const { body } = await launch('launch/patient patient/*.rs', {}, config);
    expect(body.patient).toBe(patient);
  });

  it('refuses scopes it cannot enforce and admin flags', async () => {
    const bad = await fetch(`${server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        scope: 'patient/Observation.rs?date=2020',
      }),
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toBe('invalid_client_metadata');
    const admin = await fetch(`${server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', tributary_admin: true }),
    });
    expect(admin.status).toBe(400);
    const backend = await fetch(`${server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'system/*.rs',
      }),
    });
    expect(backend.status).toBe(400);
    expect((await backend.json()).error).toBe('invalid_client_metadata');
  });
});

describe('Dynamic client registration switched off', () => {
  it('has no registration endpoint with DYNAMIC_REGISTRATION=off', async () => {
    const closed = await startAuthServer({ DYNAMIC_REGISTRATION: 'off' });
    try {
      const res = await fetch(`${closed.url}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }),
      });
      expect(res.status).toBe(404);
      const config = await (await fetch(`${closed.fhirBase}/.well-known/smart-configuration`)).json();
      expect(config.registration_endpoint).toBeUndefined();
      const security = (await fhir(closed, 'GET', 'metadata')).body.rest[0].security as CapabilityStatementRestSecurity;
      expect(security.extension![0].extension!.map((e) => e.url)).not.toContain('register');
    } finally {
      await closed.close();
    }
  });
});
