import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { checkWrite } from '../validation/validator.ts';
import { adminApi, adminToken, oidcClient, startAuthServer } from './test-helpers.ts';

let server: Tributary;
let admin: string;

beforeAll(async () => {
  server = await startAuthServer({ AUDIT: 'on', API_RATE_LIMIT: '8', AUTH_RATE_LIMIT: '40' });
  admin = await adminToken(server);
});
afterAll(async () => {
  await server?.close();
});

async function auditEvents(): Promise<any[]> {
  await server.auth.audit!.flush();
  const r = await server.pool.query<{ content: string }>("SELECT content FROM resource WHERE resource_type = 'AuditEvent' ORDER BY last_updated");
  return r.rows.map((row) => JSON.parse(row.content));
}

describe('audit trail', () => {
  it('records resource accesses, refusals and token grants as BALP-style AuditEvents', async () => {
    const patient = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' }, { authorization: `Bearer ${admin}` })).body.id;
    expect((await fhir(server, 'GET', `Patient/${patient}`, undefined, { authorization: `Bearer ${admin}` })).status).toBe(200);
    const narrow = await adminToken(server, 'system/Observation.rs');
    expect((await fhir(server, 'GET', `Patient/${patient}`, undefined, { authorization: `Bearer ${narrow}` })).status).toBe(403);
    expect((await fhir(server, 'GET', `Patient/${patient}`)).status).toBe(401);

    const events = await auditEvents();
    const read = events.find((e) => e.subtype[0].code === 'read' && e.outcome === '0');
    expect(read).toMatchObject({
      type: { code: 'rest' },
      action: 'R',
      entity: [{ what: { reference: `Patient/${patient}` } }, { what: { identifier: { system: 'urn:tributary:request-id' } } }],
      source: { observer: { display: 'Tributary' } },
    });
    expect(read.agent[1].who.identifier.value).toBe('test-admin');
    const refused = events.find((e) => e.subtype[0].code === 'read' && e.outcome === '4');
    expect(refused.outcomeDesc).toMatch(/Insufficient scope/);
    expect(events.some((e) => e.subtype[0].code === 'create' && e.action === 'C')).toBe(true);
    expect(events.some((e) => e.subtype[0].code === 'authenticate' && e.outcome === '4')).toBe(true);
    expect(events.filter((e) => e.type.code === '110114' && e.subtype[0].code === 'token' && e.outcome === '0').length).toBeGreaterThanOrEqual(2);
    // written without per-event validation: every kind must be valid by construction
    for (const e of events) expect(() => checkWrite(e)).not.toThrow();
  });
});

describe('rate limits', () => {
  it('limits FHIR requests per client with 429 and an OperationOutcome', async () => {
    const registered = await adminApi(server, admin, 'POST', '/admin/clients', { client_id: 'busy', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'system/*.rs' });
    const token = (await client.clientCredentialsGrant(await oidcClient(server, 'busy', client.ClientSecretBasic(registered.client_secret)), { scope: 'system/*.rs' })).access_token;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await fhir(server, 'GET', 'Patient/none', undefined, { authorization: `Bearer ${token}` })).status);
    expect(statuses.slice(0, 8)).toEqual(Array(8).fill(404));
    const limited = await fhir(server, 'GET', 'Patient/none', undefined, { authorization: `Bearer ${token}` });
    expect(limited.status).toBe(429);
    expect(limited.body.issue[0].code).toBe('throttled');
    // another client is not affected
    expect((await fhir(server, 'GET', 'Patient/none', undefined, { authorization: `Bearer ${admin}` })).status).toBe(404);
  });

  it('limits the authorization endpoints per address', async () => {
    let status = 200;
    for (let i = 0; i < 45 && status !== 429; i++) status = (await fetch(`${server.url}/auth/jwks`)).status;
    expect(status).toBe(429);
  });
});
