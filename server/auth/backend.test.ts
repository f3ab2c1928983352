import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminToken, ADMIN, oidcClient, startAuthServer } from './test-helpers.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startAuthServer();
});
afterAll(async () => {
  await server?.close();
});

describe('FHIR requests need a token', () => {
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
    const created = await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Admin' }] }, auth);
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
