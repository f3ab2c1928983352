import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { startReceiver, type Receiver } from '../../../test/receiver.ts';

const LOINC = 'http://loinc.org';
const SECRET = 'a-shared-secret-of-the-subscriber';
let server: Tributary;
let receiver: Receiver;

const observation = (code: string, value = 1) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: LOINC, code }] },
  valueQuantity: { value, unit: 'mmHg' },
});

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestServer({}, { SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1', SUBSCRIPTION_RETRY_BASE_MS: '20' });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

describe('rest-hook subscriptions', () => {
  it('notifies matching creates, updates and deletes with the resource, headers and an HMAC signature', async () => {
    const created = await fhir(server, 'POST', 'Subscription', {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'test',
      criteria: `Observation?code=${LOINC}|8480-6`,
      extension: [{ url: 'https://tributary.dev/fhir/StructureDefinition/subscription-secret', valueString: SECRET }],
      channel: {
        type: 'rest-hook',
        endpoint: receiver.url,
        payload: 'application/fhir+json',
        header: ['Authorization: Bearer receiver-token'],
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('active');
    const subId = created.body.id;

    const other = await fhir(server, 'POST', 'Observation', observation('1234-5'));
    const obs = await fhir(server, 'POST', 'Observation', observation('8480-6', 120));
    expect(other.status).toBe(201);
    const [first] = await receiver.waitFor(1);
    expect(first.method).toBe('POST');
    expect(first.url).toBe('/hook');
    expect(first.headers['content-type']).toBe('application/fhir+json');
    expect(first.headers.authorization).toBe('Bearer receiver-token');
    expect(first.headers['x-tributary-subscription']).toBe(`Subscription/${subId}`);
    expect(first.headers['x-tributary-resource']).toBe(`Observation/${obs.body.id}/_history/1`);
    expect(first.headers['x-tributary-action']).toBe('create');
    expect(first.headers['x-tributary-event-number']).toBe('1');
    expect(first.headers['x-signature']).toBe(
      `sha256=${createHmac('sha256', SECRET).update(first.body).digest('hex')}`,
    );
    expect(JSON.parse(first.body)).toMatchObject({
      resourceType: 'Observation',
      id: obs.body.id,
      valueQuantity: { value: 120 },
    });

    const updated = await fhir(server, 'PUT', `Observation/${obs.body.id}`, {
      ...obs.body,
      valueQuantity: { value: 130, unit: 'mmHg' },
    });
    expect(updated.status).toBe(200);
    await fhir(server, 'DELETE', `Observation/${obs.body.id}`);
    const all = await receiver.waitFor(3);
    expect(
      all.map((r) => [
        r.headers['x-tributary-action'],
        r.headers['x-tributary-resource'],
        r.headers['x-tributary-event-number'],
      ]),
    ).toEqual([
      ['create', `Observation/${obs.body.id}/_history/1`, '1'],
      ['update', `Observation/${obs.body.id}/_history/2`, '2'],
      ['delete', `Observation/${obs.body.id}/_history/3`, '3'],
    ]);
    expect(JSON.parse(all[1].body).valueQuantity.value).toBe(130);
    expect(all[2].body).toBe('');
    // The non-matching Observation was never notified.
    expect(all.some((r) => String(r.headers['x-tributary-resource']).includes(other.body.id))).toBe(false);
  });
});
