import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminApi, adminToken, startAuthServer } from '../../test/auth-helpers.ts';

/**
 * The SMART JS client (fhirclient), unmodified, in headless Chromium: an app served from its own loopback origin
 * does an EHR launch and a standalone launch against the server, logs in, consents, and reads the patient.
 */

const CHROMIUM = '/usr/bin/chromium';
const fhirClientJs = readFileSync(createRequire(import.meta.url).resolve('fhirclient/build/fhir-client.js'), 'utf8');

const LAUNCH_PAGE = `<!DOCTYPE html><html><head><script src="/fhir-client.js"></script></head><body><script>
const params = new URLSearchParams(location.search);
FHIR.oauth2.authorize({
  clientId: 'browser-app',
  scope: params.get('scope'),
  redirectUri: '/index.html',
  ...(params.get('launch') ? {} : { iss: params.get('iss') }),
});
</script></body></html>`;

const APP_PAGE = `<!DOCTYPE html><html><head><script src="/fhir-client.js"></script></head><body><pre id="out">waiting</pre><script>
FHIR.oauth2.ready()
  .then(async (client) => {
    const patient = await client.patient.read();
    document.getElementById('out').textContent = JSON.stringify({ patient: client.patient.id, family: patient.name[0].family, encounter: client.encounter.id, scope: client.state.tokenResponse.scope, banner: client.state.tokenResponse.need_patient_banner });
  })
  .catch((e) => { document.getElementById('out').textContent = 'error: ' + e; });
</script></body></html>`;

let server: Tributary;
let appServer: Server;
let appOrigin: string;
let browser: Browser;
let admin: string;
let alice: string;
let bob: string;

beforeAll(async () => {
  server = await startAuthServer();
  admin = await adminToken(server);
  const auth = { authorization: `Bearer ${admin}` };
  alice = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Browserwoman' }] }, auth))
    .body.id;
  bob = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Ehrman' }] }, auth)).body
    .id;
  appServer = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/fhir-client.js') res.setHeader('content-type', 'text/javascript').end(fhirClientJs);
    else if (path === '/launch.html') res.setHeader('content-type', 'text/html').end(LAUNCH_PAGE);
    else if (path === '/index.html') res.setHeader('content-type', 'text/html').end(APP_PAGE);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => appServer.listen(0, '127.0.0.1', resolve));
  appOrigin = `http://127.0.0.1:${(appServer.address() as AddressInfo).port}`;
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'browser-app',
    client_name: 'Browser test app',
    redirect_uris: [`${appOrigin}/index.html`],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
  });
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'clinician',
    password: 'browser password',
    role: 'practitioner',
    fhirUser: 'Practitioner/c1',
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => appServer?.close(resolve));
  await server?.close();
});

async function signInAndConsent(page: Page, patient?: string): Promise<void> {
  await page.waitForSelector('#sign-in', { timeout: 30_000 });
  await page.fill('#username', 'clinician');
  await page.fill('#password', 'browser password');
  await page.click('#sign-in');
  await page.waitForSelector('#approve', { timeout: 30_000 });
  if (patient) await page.selectOption('#patient', patient);
  await page.click('#approve');
}

async function appResult(page: Page): Promise<any> {
  // (the consent page has no #out yet: wait for the app's page and its answer)
  await page.waitForFunction(
    () => {
      const text = document.getElementById('out')?.textContent;
      return !!text && text !== 'waiting';
    },
    undefined,
    { timeout: 30_000 },
  );
  const text = (await page.textContent('#out')) ?? '';
  if (text.startsWith('error')) throw new Error(`${text} (at ${page.url()})`);
  return JSON.parse(text);
}

describe('fhirclient in headless Chromium', () => {
  it('does a standalone launch with the patient picker', async () => {
    const page = await browser.newPage();
    const scope = 'openid fhirUser launch/patient patient/*.rs offline_access';
    await page.goto(
      `${appOrigin}/launch.html?iss=${encodeURIComponent(server.fhirBase)}&scope=${encodeURIComponent(scope)}`,
    );
    await signInAndConsent(page, alice);
    const result = await appResult(page);
    expect(result).toMatchObject({ patient: alice, family: 'Browserwoman', banner: true });
    expect(result.scope.split(' ')).toContain('patient/*.rs');
    await page.close();
  }, 90_000);

  it('does an EHR launch with the context from POST /auth/launch', async () => {
    const launch = await adminApi(server, admin, 'POST', '/launch', { patient: bob, encounter: 'enc-9' });
    const page = await browser.newPage();
    const scope = 'launch openid fhirUser patient/*.rs';
    await page.goto(
      `${appOrigin}/launch.html?iss=${encodeURIComponent(server.fhirBase)}&launch=${launch.launch}&scope=${encodeURIComponent(scope)}`,
    );
    await signInAndConsent(page);
    const result = await appResult(page);
    expect(result).toMatchObject({ patient: bob, family: 'Ehrman', encounter: 'enc-9', banner: false });
    await page.close();
  }, 90_000);
});
