import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { checkWrite } from '../validation/validator.ts';
import { toAuditEvent } from './audit.ts';
import { adminApi, adminToken, oidcClient, startAuthServer } from '../../test/auth-helpers.ts';

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
  const r = await server.pool.query<{ content: string }>(
    "SELECT content FROM resource WHERE resource_type = 'AuditEvent' ORDER BY last_updated",
  );
  return r.rows.map((row) => JSON.parse(row.content));
}

describe('audit trail', () => {
  it('records resource accesses, refusals and token grants as BALP-style AuditEvents', async () => {
    const patient = (
      await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' }, { authorization: `Bearer ${admin}` })
    ).body.id;
    expect(
      (await fhir(server, 'GET', `Patient/${patient}`, undefined, { authorization: `Bearer ${admin}` })).status,
    ).toBe(200);
    const narrow = await adminToken(server, 'system/Observation.rs');
    expect(
      (await fhir(server, 'GET', `Patient/${patient}`, undefined, { authorization: `Bearer ${narrow}` })).status,
    ).toBe(403);
    expect((await fhir(server, 'GET', `Patient/${patient}`)).status).toBe(401);
    expect(
      (
        await fhir(server, 'GET', `Patient/${patient}/Observation?code=x`, undefined, {
          authorization: `Bearer ${admin}`,
        })
      ).status,
    ).toBe(200);

    const events = await auditEvents();
    const read = events.find((e) => e.subtype[0].code === 'read' && e.outcome === '0');
    expect(read).toMatchObject({
      type: { code: 'rest' },
      action: 'R',
      entity: [
        { what: { reference: `Patient/${patient}` } },
        { what: { identifier: { system: 'urn:tributary:request-id' } } },
      ],
      source: { observer: { display: 'Tributary' } },
    });
    // a backend client is the requestor itself: one agent, the application
    expect(read.agent).toEqual([
      expect.objectContaining({
        requestor: true,
        who: { identifier: { system: 'urn:tributary:oauth-client', value: 'test-admin' } },
      }),
    ]);
    const compartment = events.find((e) => e.subtype[0].code === 'search-compartment');
    expect(compartment).toMatchObject({
      action: 'E',
      entity: [{ what: { reference: `Patient/${patient}` } }, expect.anything()],
    });
    expect(Buffer.from(compartment.entity[0].query, 'base64').toString()).toBe(`Patient/${patient}/Observation?code=x`);
    const refused = events.find((e) => e.subtype[0].code === 'read' && e.outcome === '4');
    expect(refused.outcomeDesc).toMatch(/Insufficient scope/);
    expect(events.some((e) => e.subtype[0].code === 'create' && e.action === 'C')).toBe(true);
    expect(events.some((e) => e.subtype[0].code === 'authenticate' && e.outcome === '4')).toBe(true);
    expect(
      events.filter((e) => e.type.code === '110114' && e.subtype[0].code === 'token' && e.outcome === '0').length,
    ).toBeGreaterThanOrEqual(2);
    // written without per-event validation: every kind must be valid by construction
    for (const e of events) expect(() => checkWrite(e)).not.toThrow();
  });
});

describe('AuditEvent shape', () => {
  const base = { kind: 'rest', subtype: 'read', action: 'R', success: true, clientId: 'app', requestId: 'q1' } as const;

  it('has the user as requestor beside the app, and the patient entity once', () => {
    const obs = toAuditEvent({ ...base, user: 'Practitioner/7', what: 'Observation/5', patient: '3' });
    expect(obs.agent.map((a) => [a.requestor, a.who])).toEqual([
      [true, { reference: 'Practitioner/7' }],
      [false, { identifier: { system: 'urn:tributary:oauth-client', value: 'app' } }],
    ]);
    expect(obs.entity?.map((e) => [e.what, e.role?.code])).toEqual([
      [{ reference: 'Observation/5' }, undefined],
      [{ reference: 'Patient/3' }, '1'],
      [{ identifier: { system: 'urn:tributary:request-id', value: 'q1' } }, undefined],
    ]);
    const self = toAuditEvent({ ...base, user: 'Patient/3', what: 'Patient/3', patient: '3' });
    expect(self.entity?.filter((e) => e.what?.reference === 'Patient/3')).toEqual([
      { what: { reference: 'Patient/3' }, role: expect.objectContaining({ code: '1' }) },
    ]);
  });

  it('names an anonymous requestor when there is neither user nor client', () => {
    const refused = toAuditEvent({
      kind: 'rest',
      subtype: 'authenticate',
      action: 'E',
      success: false,
      address: '10.0.0.1',
    });
    expect(refused.agent).toEqual([
      expect.objectContaining({
        requestor: true,
        who: { identifier: { value: 'anonymous' } },
        network: { address: '10.0.0.1', type: '2' },
      }),
    ]);
    expect(() => checkWrite(refused)).not.toThrow();
  });
});

describe('rate limits', () => {
  it('limits FHIR requests per client with 429 and an OperationOutcome', async () => {
    const registered = await adminApi(server, admin, 'POST', '/admin/clients', {
      client_id: 'busy',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'system/*.rs',
    });
    const token = (
      await client.clientCredentialsGrant(
        await oidcClient(server, 'busy', client.ClientSecretBasic(registered.client_secret)),
        { scope: 'system/*.rs' },
      )
    ).access_token;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++)
      statuses.push(
        (await fhir(server, 'GET', 'Patient/none', undefined, { authorization: `Bearer ${token}` })).status,
      );
    expect(statuses.slice(0, 8)).toEqual(Array(8).fill(404));
    const limited = await fhir(server, 'GET', 'Patient/none', undefined, { authorization: `Bearer ${token}` });
    expect(limited.status).toBe(429);
    expect(limited.body.issue[0].code).toBe('throttled');
    // another client is not affected
    expect((await fhir(server, 'GET', 'Patient/none', undefined, { authorization: `Bearer ${admin}` })).status).toBe(
      404,
    );
  });

  it('limits the authorization endpoints per address', async () => {
    let status = 200;
    for (let i = 0; i < 45 && status !== 429; i++) status = (await fetch(`${server.url}/auth/jwks`)).status;
    expect(status).toBe(429);
  });
});
