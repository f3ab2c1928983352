import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthServer } from '../auth/index.ts';
import { loadAuthConfig } from '../auth/config.ts';
import { createPool } from '../db/pool.ts';
import { migrate } from '../db/migrate.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { createFhirRouter } from '../rest/routes.ts';
import { PostgresRepository } from '../store/repository.ts';
import { createTestDatabase, dropTestDatabase } from '../../test/harness.ts';
import { createHttpListener } from './app.ts';
import { createMetrics } from './metrics.ts';

/*
 * The HTTP listener on its own (no startTributary), to see it before the server is ready: the FHIR endpoint answers
 * 503 with an OperationOutcome, like /healthz, until then.
 */
let databaseUrl: string;
let pool: pg.Pool;
let server: Server;
let ready = false;
let origin: string;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  await migrate(databaseUrl);
  loadDefinitions();
  pool = createPool(databaseUrl, 2);
  const logger = pino({ level: 'silent' });
  const auth = createAuthServer(loadAuthConfig({ AUTH: 'off' }), logger);
  const router = createFhirRouter().useGuard(auth.guard);
  const listener = createHttpListener({
    router,
    repo: new PostgresRepository(pool, async () => undefined),
    logger,
    metrics: createMetrics(pool),
    maxBodyBytes: 1024,
    isReady: () => ready,
    auth,
  });
  server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.close();
  await pool?.end();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

describe('the HTTP listener', () => {
  it('answers FHIR requests 503 until the server is ready, then serves them', async () => {
    const early = await fetch(`${origin}/fhir/Patient/x`);
    expect(early.status).toBe(503);
    expect((await early.json()).resourceType).toBe('OperationOutcome');
    expect((await fetch(`${origin}/healthz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    const missing = await fetch(`${origin}/fhir/Patient/x`);
    expect(missing.status).toBe(404);
    const created = await fetch(`${origin}/fhir/Patient`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: '{"resourceType":"Patient"}',
    });
    expect(created.status).toBe(201);
    const tooLarge = await fetch(`${origin}/fhir/Patient`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: `{"resourceType":"Patient","id":"${'x'.repeat(2000)}"}`,
    });
    expect(tooLarge.status).toBe(413);
  });

  it('sends everything outside /fhir (and SMART discovery under it) to the express app', async () => {
    expect((await fetch(`${origin}/metrics`)).headers.get('content-type')).toMatch(/text\/plain/);
    const discovery = await fetch(`${origin}/fhir/.well-known/smart-configuration`);
    expect(discovery.headers.get('content-type') ?? '').not.toMatch(/fhir\+json/);
  });

  it('serves a landing page at / (HTML for browsers, JSON on request) naming the version and the FHIR base', async () => {
    const html = await fetch(`${origin}/`, { headers: { accept: 'text/html' } });
    expect(html.status).toBe(200);
    const page = await html.text();
    expect(page).toContain(`<code id="fhir-base">${origin}/fhir</code>`);
    expect(page).toContain(`href="${origin}/fhir/metadata"`);
    const json = await (await fetch(`${origin}/`, { headers: { accept: 'application/json' } })).json();
    expect(json).toMatchObject({
      name: 'Tributary',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      fhirBase: `${origin}/fhir`,
    });
    for (const href of Object.values(json.links as Record<string, string>))
      expect((await fetch(href)).status, href).toBe(200);
  });
});
