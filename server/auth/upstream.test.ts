import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, browse, CookieJar, oidcClient, startAuthServer } from './test-helpers.ts';

/**
 * Login through an upstream OpenID Connect IdP: a second, in-process oidc-provider on a loopback port plays Keycloak
 * (its development login form accepts any user). Tributary sends the user there from its login page and takes them
 * back, creating the local account on first login.
 */

const REDIRECT = 'http://127.0.0.1:9/callback';
let server: Tributary;
let idpServer: Server;
let idp: Provider | undefined;
let idpIssuer: string;
let app: client.Configuration;
let patient: string;

beforeAll(async () => {
  idpServer = createServer((req, res) => (idp ? idp.callback()(req, res) : res.writeHead(503).end()));
  await new Promise<void>((resolve) => idpServer.listen(0, '127.0.0.1', resolve));
  idpIssuer = `http://127.0.0.1:${(idpServer.address() as AddressInfo).port}`;
  server = await startAuthServer({ OIDC_ISSUER: idpIssuer, OIDC_CLIENT_ID: 'tributary', OIDC_CLIENT_SECRET: 'upstream-secret', OIDC_NAME: 'Test IdP', OIDC_DEFAULT_ROLE: 'practitioner' });
  idp = new Provider(idpIssuer, {
    clients: [{ client_id: 'tributary', client_secret: 'upstream-secret', redirect_uris: [`${server.url}/auth/upstream/callback`] }],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
    // like Keycloak and Entra ID: profile claims in the ID token
    conformIdTokenClaims: false,
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, name: `Dr ${id}`, preferred_username: id }) }),
  });
  const admin = await adminToken(server);
  patient = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' }, { authorization: `Bearer ${admin}` })).body.id;
  await adminApi(server, admin, 'POST', '/admin/clients', { client_id: 'sso-app', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] });
  app = await oidcClient(server, 'sso-app', client.None());
});
afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => idpServer?.close(resolve));
});

/** Submits the first form of a page with the given fields (the IdP's development login and consent pages). */
async function submitForm(jar: CookieJar, page: { url: string; body: string }, fields: Record<string, string>) {
  const action = /<form[^>]*action="([^"]+)"/.exec(page.body)?.[1];
  expect(action, page.body).toBeDefined();
  const hidden = Object.fromEntries([...page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  return browse(jar, new URL(action!, page.url).toString(), new URLSearchParams({ ...hidden, ...fields }));
}

describe('login through the upstream OpenID Connect IdP', () => {
  it('signs the user in at the IdP, creates the local account, and finishes the SMART launch', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(app, {
      redirect_uri: REDIRECT, scope: 'openid launch/patient patient/*.rs', state: 'st', aud: server.fhirBase,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const jar = new CookieJar();
    let step = await browse(jar, url.toString());
    step = await browse(jar, step.location!);
    expect(step.body).toContain('Sign in with Test IdP');
    step = await browse(jar, `${step.url}/upstream`);
    expect(step.location?.startsWith(`${idpIssuer}/auth`)).toBe(true);
    const authorize = new URL(step.location!);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');

    // at the IdP: its login form, then its consent form
    step = await browse(jar, step.location!);
    while (step.location && step.location.startsWith(idpIssuer)) step = await browse(jar, step.location);
    step = await submitForm(jar, step, { login: 'jdoe', password: 'anything' });
    while (step.location && step.location.startsWith(idpIssuer)) step = await browse(jar, step.location);
    step = await submitForm(jar, step, {});
    while (step.location && step.location.startsWith(idpIssuer)) step = await browse(jar, step.location);

    // back at Tributary: callback, interaction finished, then our consent page
    expect(step.location).toMatch(/\/auth\/upstream\/callback\?/);
    while (step.location && step.location.includes('/auth/')) step = await browse(jar, step.location);
    expect(step.body).toContain('id="approve"');
    const form = new URLSearchParams({ decision: 'approve', patient });
    for (const m of step.body.matchAll(/name="scope" value="([^"]+)"/g)) form.append('scope', m[1].replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))));
    step = await browse(jar, `${step.url}/consent`, form);
    while (step.location && step.location.includes('/auth/')) step = await browse(jar, step.location);
    const tokens = await client.authorizationCodeGrant(app, new URL(step.location!), { pkceCodeVerifier: verifier, expectedState: 'st' });
    expect(tokens.patient).toBe(patient);

    const account = await server.pool.query('SELECT username, role, name, upstream_issuer FROM auth_user WHERE upstream_subject = $1', ['jdoe']);
    expect(account.rows[0]).toEqual({ username: `jdoe@${new URL(idpIssuer).host}`, role: 'practitioner', name: 'Dr jdoe', upstream_issuer: idpIssuer });
    expect((await fhir(server, 'GET', `Patient/${patient}`, undefined, { authorization: `Bearer ${tokens.access_token}` })).status).toBe(200);
  });

  it('refuses a callback it did not start', async () => {
    const res = await browse(new CookieJar(), `${server.url}/auth/upstream/callback?code=forged&state=forged`);
    expect(res.status).toBe(401);
  });
});
