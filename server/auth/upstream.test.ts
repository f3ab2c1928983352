import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, browse, CookieJar, oidcClient, startAuthServer } from '../../test/auth-helpers.ts';

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
let tamper = false;

beforeAll(async () => {
  idpServer = createServer((req, res) => {
    if (!idp) return res.writeHead(503).end();
    if (tamper && req.method === 'POST' && req.url?.startsWith('/token')) tamperIdToken(res);
    void idp.callback()(req, res);
  });
  await new Promise<void>((resolve) => idpServer.listen(0, '127.0.0.1', resolve));
  idpIssuer = `http://127.0.0.1:${(idpServer.address() as AddressInfo).port}`;
  server = await startAuthServer({
    OIDC_ISSUER: idpIssuer,
    OIDC_CLIENT_ID: 'tributary',
    OIDC_CLIENT_SECRET: 'upstream-secret',
    OIDC_NAME: 'Test IdP',
    OIDC_DEFAULT_ROLE: 'practitioner',
  });
  idp = new Provider(idpIssuer, {
    clients: [
      {
        client_id: 'tributary',
        client_secret: 'upstream-secret',
        redirect_uris: [`${server.url}/auth/upstream/callback`],
      },
    ],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
    // like Keycloak and Entra ID: profile claims in the ID token
    conformIdTokenClaims: false,
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, name: `Dr ${id}`, preferred_username: id }),
    }),
  });
  const admin = await adminToken(server);
  patient = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' }, { authorization: `Bearer ${admin}` }))
    .body.id;
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'sso-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
  app = await oidcClient(server, 'sso-app', client.None());
});
afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => idpServer?.close(resolve));
});

/** Makes the IdP's token response carry an ID token whose subject was changed after signing (an impostor). */
function tamperIdToken(res: ServerResponse): void {
  const end = res.end.bind(res);
  const chunks: Buffer[] = [];
  res.write = ((chunk: Buffer | string) => chunks.push(Buffer.from(chunk)) > 0) as typeof res.write;
  res.end = ((chunk?: Buffer | string) => {
    if (chunk) chunks.push(Buffer.from(chunk));
    const body = JSON.parse(Buffer.concat(chunks).toString());
    const [header, payload, signature] = body.id_token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    body.id_token = [
      header,
      Buffer.from(JSON.stringify({ ...claims, sub: 'impostor' })).toString('base64url'),
      signature,
    ].join('.');
    const text = JSON.stringify(body);
    res.setHeader('content-length', Buffer.byteLength(text));
    return end(text);
  }) as typeof res.end;
}

/** Submits the first form of a page with the given fields (the IdP's development login and consent pages). */
async function submitForm(jar: CookieJar, page: { url: string; body: string }, fields: Record<string, string>) {
  const action = /<form[^>]*action="([^"]+)"/.exec(page.body)?.[1];
  expect(action, page.body).toBeDefined();
  const hidden = Object.fromEntries(
    [...page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]),
  );
  return browse(jar, new URL(action!, page.url).toString(), new URLSearchParams({ ...hidden, ...fields }));
}

/** From an authorization request to Tributary's upstream callback: its login page, then the IdP's login and consent. */
async function signInAtIdp(jar: CookieJar, authorizeUrl: URL, login: string) {
  let step = await browse(jar, authorizeUrl.toString());
  step = await browse(jar, step.location!);
  expect(step.body).toContain('Sign in with Test IdP');
  step = await browse(jar, `${step.url}/upstream`);
  expect(step.location?.startsWith(`${idpIssuer}/auth`)).toBe(true);
  expect(new URL(step.location!).searchParams.get('code_challenge_method')).toBe('S256');
  step = await browse(jar, step.location!);
  while (step.location && step.location.startsWith(idpIssuer)) step = await browse(jar, step.location);
  step = await submitForm(jar, step, { login, password: 'anything' });
  while (step.location && step.location.startsWith(idpIssuer)) step = await browse(jar, step.location);
  step = await submitForm(jar, step, {});
  while (step.location && step.location.startsWith(idpIssuer)) step = await browse(jar, step.location);
  return step;
}

describe('login through the upstream OpenID Connect IdP', () => {
  it('signs the user in at the IdP, creates the local account, and finishes the SMART launch', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(app, {
      redirect_uri: REDIRECT,
      scope: 'openid launch/patient patient/*.rs',
      state: 'st',
      aud: server.fhirBase,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const jar = new CookieJar();
    let step = await signInAtIdp(jar, url, 'jdoe');
    // back at Tributary: callback, interaction finished, then our consent page
    expect(step.location).toMatch(/\/auth\/upstream\/callback\?/);
    while (step.location && step.location.includes('/auth/')) step = await browse(jar, step.location);
    expect(step.body).toContain('id="approve"');
    const form = new URLSearchParams({ decision: 'approve', patient });
    for (const m of step.body.matchAll(/name="scope" value="([^"]+)"/g))
      form.append(
        'scope',
        m[1].replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))),
      );
    step = await browse(jar, `${step.url}/consent`, form);
    while (step.location && step.location.includes('/auth/')) step = await browse(jar, step.location);
    const tokens = await client.authorizationCodeGrant(app, new URL(step.location!), {
      pkceCodeVerifier: verifier,
      expectedState: 'st',
    });
    expect(tokens.patient).toBe(patient);

    const account = await server.pool.query(
      'SELECT username, role, name, upstream_issuer FROM auth_user WHERE upstream_subject = $1',
      ['jdoe'],
    );
    expect(account.rows[0]).toEqual({
      username: `jdoe@${new URL(idpIssuer).host}`,
      role: 'practitioner',
      name: 'Dr jdoe',
      upstream_issuer: idpIssuer,
    });
    expect(
      (await fhir(server, 'GET', `Patient/${patient}`, undefined, { authorization: `Bearer ${tokens.access_token}` }))
        .status,
    ).toBe(200);
  });

  it('refuses an ID token whose signature does not verify (a changed subject)', async () => {
    const url = client.buildAuthorizationUrl(app, {
      redirect_uri: REDIRECT,
      scope: 'openid launch/patient patient/*.rs',
      state: 'st',
      aud: server.fhirBase,
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const jar = new CookieJar();
    const step = await signInAtIdp(jar, url, 'mallory');
    expect(step.location).toMatch(/\/auth\/upstream\/callback\?/);
    // the callback redeems the code at the IdP's token endpoint: that answer is tampered with
    tamper = true;
    const callback = await browse(jar, step.location!).finally(() => (tamper = false));
    expect(callback.status).toBe(401);
    expect(callback.location).toBeUndefined();
    const accounts = await server.pool.query('SELECT 1 FROM auth_user WHERE upstream_subject IN ($1, $2)', [
      'impostor',
      'mallory',
    ]);
    expect(accounts.rowCount).toBe(0);
  });

  it('refuses a callback it did not start', async () => {
    const res = await browse(new CookieJar(), `${server.url}/auth/upstream/callback?code=forged&state=forged`);
    expect(res.status).toBe(401);
  });
});
