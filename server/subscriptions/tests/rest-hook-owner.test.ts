import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir } from '../../../test/harness.ts';
import { startReceiver, type Receiver } from '../../../test/receiver.ts';
import { until } from '../../../test/until.ts';
import { adminApi, adminToken, oidcClient, startAuthServer } from '../../../test/auth-helpers.ts';

/**
 * A rest-hook Subscription delivers only what the client that last wrote it may read: recorded by the server with
 * every write of the Subscription (here inside a transaction Bundle, then by a PUT), never taken from the resource.
 */

const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
let server: Tributary;
let receiver: Receiver;

beforeAll(async () => {
  server = await startAuthServer({ SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1' });
  receiver = await startReceiver();
}, 120_000);
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

const observation = (category: string) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'urn:owner', code: 'watched' }] },
  category: [{ coding: [{ system: CATEGORY, code: category }] }],
});

/** Waits until every event is matched and every notification sent or dropped; returns the resources received. */
async function delivered(): Promise<string[]> {
  await until(
    async () => {
      const { rows } = await server.pool.query(
        `SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM subscription_delivery WHERE status = 'pending') AS n`,
      );
      return Number(rows[0].n) === 0;
    },
    30_000,
    'the notifications',
  );
  return receiver.received.map((r) => String(r.headers['x-tributary-resource']).split('/_history')[0]);
}

describe('rest-hook notifications and the Subscription’s writer', () => {
  it('carry what the last writer may read: a confined creator’s (in a Bundle), then an admin’s after its update', async () => {
    const admin = await adminToken(server);
    const scope = 'system/Subscription.cruds system/Observation.rs?category=vital-signs';
    const registered = await adminApi(server, admin, 'POST', '/admin/clients', {
      client_id: 'vitals-watcher',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope,
    });
    const config = await oidcClient(server, 'vitals-watcher', client.ClientSecretBasic(registered.client_secret));
    const watcher = {
      authorization: `Bearer ${(await client.clientCredentialsGrant(config, { scope })).access_token}`,
    };
    const asAdmin = { authorization: `Bearer ${admin}` };

    const subscription = {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'owner',
      criteria: 'Observation?code=urn:owner|watched',
      channel: { type: 'rest-hook', endpoint: receiver.url, payload: 'application/fhir+json' },
    };
    const bundle = await fhir(
      server,
      'POST',
      '',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: subscription, request: { method: 'POST', url: 'Subscription' } }],
      },
      watcher,
    );
    expect(bundle.status).toBe(200);
    const id = bundle.body.entry[0].response.location.split('/')[1];
    const vital = await fhir(server, 'POST', 'Observation', observation('vital-signs'), asAdmin);
    await fhir(server, 'POST', 'Observation', observation('laboratory'), asAdmin);
    expect(await delivered()).toEqual([`Observation/${vital.body.id}`]);

    const current = await fhir(server, 'GET', `Subscription/${id}`, undefined, asAdmin);
    expect(
      (await fhir(server, 'PUT', `Subscription/${id}`, { ...current.body, reason: 'owner, widened' }, asAdmin)).status,
    ).toBe(200);
    const lab2 = await fhir(server, 'POST', 'Observation', observation('laboratory'), asAdmin);
    expect(await delivered()).toEqual([`Observation/${vital.body.id}`, `Observation/${lab2.body.id}`]);
  });
});
