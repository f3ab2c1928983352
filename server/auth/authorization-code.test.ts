import { Client } from 'fhir-kit-client';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, authorizeAsUser, oidcClient, startAuthServer } from '../../test/auth-helpers.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
let server: Tributary;
let admin: string;
let app: client.Configuration;
let confidential: client.Configuration;
let alice: string;
let bob: string;
let aliceObs: string;
let bobObs: string;

beforeAll(async () => {
  server = await startAuthServer();
  admin = await adminToken(server);
  const auth = { authorization: `Bearer ${admin}` };
  alice = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Alice' }] }, auth)).body
    .id;
  bob = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Bob' }] }, auth)).body.id;
  const obs = (subject: string) => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'hr' },
    subject: { reference: `Patient/${subject}` },
  });
  aliceObs = (await fhir(server, 'POST', 'Observation', obs(alice), auth)).body.id;
  bobObs = (await fhir(server, 'POST', 'Observation', obs(bob), auth)).body.id;
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'dr',
    password: 'correct horse',
    role: 'practitioner',
    fhirUser: 'Practitioner/dr1',
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'public-app',
    client_name: 'Public app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const registered = await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'confidential-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
  });
  app = await oidcClient(server, 'public-app', client.None());
  confidential = await oidcClient(server, 'confidential-app', client.ClientSecretBasic(registered.client_secret));
});
afterAll(async () => {
  await server?.close();
});

async function authorize(
  scope: string,
  extra: Record<string, string> = {},
  user: Parameters<typeof authorizeAsUser>[1] = { username: 'dr', password: 'correct horse', patient: alice },
) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(app, {
    redirect_uri: REDIRECT,
    scope,
    state,
    aud: server.fhirBase,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  const { redirect, last } = await authorizeAsUser(url, user);
  return { verifier, state, redirect, last };
}

describe('standalone launch: authorization code + PKCE with openid-client', () => {
  it('logs in, picks a patient, consents, and gets a token confined to that patient', async () => {
    const { verifier, state, redirect } = await authorize('openid fhirUser launch/patient patient/*.rs offline_access');
    expect(redirect?.searchParams.get('state')).toBe(state);
    const tokens = await client.authorizationCodeGrant(app, redirect!, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.patient).toBe(alice);
    expect(tokens.need_patient_banner).toBe(true);
    expect(tokens.smart_style_url).toBe(`${server.url}/auth/smart-style.json`);
    expect(tokens.scope?.split(' ').sort()).toEqual([
      'fhirUser',
      'launch/patient',
      'offline_access',
      'openid',
      'patient/*.rs',
    ]);
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.claims()?.fhirUser).toBe(`${server.fhirBase}/Practitioner/dr1`);

    // fhir-kit-client, unmodified, reads with the token
    const fkc = new Client({ baseUrl: server.fhirBase, bearerToken: tokens.access_token });
    expect(((await fkc.read({ resourceType: 'Patient', id: alice })) as unknown as { id: string }).id).toBe(alice);
    expect(((await fkc.read({ resourceType: 'Observation', id: aliceObs })) as unknown as { id: string }).id).toBe(
      aliceObs,
    );
    await expect(fkc.read({ resourceType: 'Observation', id: bobObs })).rejects.toMatchObject({
      response: { status: 404 },
    });
    await expect(fkc.read({ resourceType: 'Patient', id: bob })).rejects.toMatchObject({ response: { status: 404 } });
    await expect(
      fkc.create({
        resourceType: 'Observation',
        body: {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'x' },
          subject: { reference: `Patient/${alice}` },
        },
      }),
    ).rejects.toMatchObject({ response: { status: 403 } });

    // refresh keeps the launch context
    const refreshed = await client.refreshTokenGrant(app, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.patient).toBe(alice);
    const again = await fhir(server, 'GET', `Observation/${aliceObs}`, undefined, {
      authorization: `Bearer ${refreshed.access_token}`,
    });
    expect(again.status).toBe(200);
  });

  it('grants only the scopes the user left ticked', async () => {
    const { verifier, state, redirect } = await authorize(
      'launch/patient patient/Observation.rs patient/Patient.rs',
      {},
      {
        username: 'dr',
        password: 'correct horse',
        patient: alice,
        untick: ['patient/Patient.rs'],
      },
    );
    const tokens = await client.authorizationCodeGrant(app, redirect!, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.scope?.split(' ').sort()).toEqual(['launch/patient', 'patient/Observation.rs']);
    expect(tokens.refresh_token).toBeUndefined();
    const patient = await fhir(server, 'GET', `Patient/${alice}`, undefined, {
      authorization: `Bearer ${tokens.access_token}`,
    });
    expect(patient.status).toBe(403);
  });

  it('returns access_denied to the app when the user denies', async () => {
    const { redirect, state } = await authorize(
      'launch/patient patient/*.rs',
      {},
      { username: 'dr', password: 'correct horse', deny: true },
    );
    expect(redirect?.searchParams.get('error')).toBe('access_denied');
    expect(redirect?.searchParams.get('state')).toBe(state);
  });
});

describe('EHR launch', () => {
  it('binds the launch context created by POST /auth/launch', async () => {
    const launch = await adminApi(server, admin, 'POST', '/launch', { patient: bob, encounter: 'enc-1' });
    const { verifier, state, redirect } = await authorize(
      'launch openid fhirUser patient/Observation.rs',
      { launch: launch.launch },
      { username: 'dr', password: 'correct horse' },
    );
    const tokens = await client.authorizationCodeGrant(app, redirect!, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.patient).toBe(bob);
    expect(tokens.encounter).toBe('enc-1');
    expect(tokens.need_patient_banner).toBe(false);
    const own = await fhir(server, 'GET', `Observation/${bobObs}`, undefined, {
      authorization: `Bearer ${tokens.access_token}`,
    });
    expect(own.status).toBe(200);
    const other = await fhir(server, 'GET', `Observation/${aliceObs}`, undefined, {
      authorization: `Bearer ${tokens.access_token}`,
    });
    expect(other.status).toBe(404);
  });

  it('refuses an unknown launch id', async () => {
    const { redirect } = await authorize('launch patient/*.rs', { launch: 'no-such-launch' });
    expect(redirect?.searchParams.get('error')).toBe('invalid_request');
  });
});

describe('introspection (RFC 7662) and revocation', () => {
  it('introspects an active token with its SMART context, then revokes it', async () => {
    const { verifier, state, redirect } = await authorize('openid fhirUser launch/patient patient/*.rs');
    const tokens = await client.authorizationCodeGrant(app, redirect!, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    const info = await client.tokenIntrospection(confidential, tokens.access_token);
    expect(info).toMatchObject({
      active: true,
      client_id: 'public-app',
      patient: alice,
      fhirUser: `${server.fhirBase}/Practitioner/dr1`,
      token_type: 'Bearer',
    });
    expect(String(info.scope).split(' ')).toContain('patient/*.rs');
    expect(info.exp).toBeGreaterThan(Date.now() / 1000);

    // used once (and so cached by the FHIR endpoint) before it is revoked
    expect(
      (await fhir(server, 'GET', `Patient/${alice}`, undefined, { authorization: `Bearer ${tokens.access_token}` }))
        .status,
    ).toBe(200);
    await client.tokenRevocation(app, tokens.access_token);
    expect((await client.tokenIntrospection(confidential, tokens.access_token)).active).toBe(false);
    const after = await fhir(server, 'GET', `Patient/${alice}`, undefined, {
      authorization: `Bearer ${tokens.access_token}`,
    });
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });
});
