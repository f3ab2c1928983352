import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { startReceiver, type Receiver } from '../../../test/receiver.ts';

const XVER = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/';
const TOPIC_URL = 'http://example.org/fhir/SubscriptionTopic/encounter-complete';
let server: Tributary;
let receiver: Receiver;

/** The backport IG's R4 example topic, as a Basic: an Encounter becomes finished. */
const encounterComplete = {
  resourceType: 'Basic',
  code: { coding: [{ system: 'http://hl7.org/fhir/fhir-types', code: 'SubscriptionTopic' }] },
  extension: [
    { url: 'http://hl7.org/fhir/StructureDefinition/artifact-url', valueUri: TOPIC_URL },
    {
      url: `${XVER}resourceTrigger`,
      extension: [
        { url: 'resource', valueUri: 'http://hl7.org/fhir/StructureDefinition/Encounter' },
        { url: 'supportedInteraction', valueCode: 'create' },
        { url: 'supportedInteraction', valueCode: 'update' },
        {
          url: 'queryCriteria',
          extension: [
            { url: 'previous', valueString: 'status:not=finished' },
            { url: 'resultForCreate', valueCode: 'test-passes' },
            { url: 'current', valueString: 'status=finished' },
            { url: 'resultForDelete', valueCode: 'test-fails' },
            { url: 'requireBoth', valueBoolean: true },
          ],
        },
      ],
    },
    {
      url: `${XVER}canFilterBy`,
      extension: [
        { url: 'resource', valueUri: 'Encounter' },
        { url: 'filterParameter', valueString: 'subject' },
      ],
    },
  ],
};

const bundleOf = (r: { body: string }) => JSON.parse(r.body);
const statusOf = (bundle: any) =>
  Object.fromEntries(
    bundle.entry[0].resource.parameter.map((p: any) => [
      p.name,
      p.valueCode ?? p.valueString ?? p.valueCanonical ?? p.valueReference?.reference ?? p.part,
    ]),
  );

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestServer({}, { SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1', SUBSCRIPTION_RETRY_BASE_MS: '20' });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

describe('topic-based subscriptions (Subscriptions R5 Backport, R4)', () => {
  it('refuses a topic without a URL or with an unusable trigger', async () => {
    const noUrl = await fhir(server, 'POST', 'Basic', {
      ...encounterComplete,
      extension: encounterComplete.extension.slice(1),
    });
    expect(noUrl.status).toBe(422);
    const badQuery = structuredClone(encounterComplete);
    (badQuery.extension[1].extension as any[])[3].extension[2].valueString = 'no-such-param=1';
    expect((await fhir(server, 'POST', 'Basic', badQuery)).status).toBe(422);
  });

  it('handshake on activation, then event-notification Bundles when an Encounter of the filtered patient becomes finished', async () => {
    expect((await fhir(server, 'POST', 'Basic', encounterComplete)).status).toBe(201);
    const sub = await fhir(server, 'POST', 'Subscription', {
      resourceType: 'Subscription',
      meta: { profile: [`${BACKPORT}backport-subscription`] },
      status: 'requested',
      reason: 'encounters completed for p1',
      criteria: TOPIC_URL,
      _criteria: {
        extension: [{ url: `${BACKPORT}backport-filter-criteria`, valueString: 'Encounter?subject=Patient/p1' }],
      },
      channel: {
        type: 'rest-hook',
        endpoint: receiver.url,
        payload: 'application/fhir+json',
        _payload: { extension: [{ url: `${BACKPORT}backport-payload-content`, valueCode: 'full-resource' }] },
      },
    });
    expect(sub.status).toBe(201);
    const [handshake] = await receiver.waitFor(1);
    expect(bundleOf(handshake).type).toBe('history');
    expect(statusOf(bundleOf(handshake))).toMatchObject({
      type: 'handshake',
      topic: TOPIC_URL,
      status: 'active',
      'events-since-subscription-start': '0',
    });

    const encounter = (subject: string, status: string) => ({
      resourceType: 'Encounter',
      status,
      class: { code: 'AMB' },
      subject: { reference: subject },
    });
    const mine = await fhir(server, 'POST', 'Encounter', encounter('Patient/p1', 'in-progress'));
    await fhir(server, 'POST', 'Encounter', encounter('Patient/p2', 'finished')); // other patient: filtered out
    await fhir(server, 'PUT', `Encounter/${mine.body.id}`, { ...mine.body, status: 'finished' }); // the transition
    await fhir(server, 'PUT', `Encounter/${mine.body.id}`, {
      ...mine.body,
      status: 'finished',
      period: { end: '2026-12-01' },
    }); // finished → finished: previous test fails
    const [, event] = await receiver.waitFor(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.received).toHaveLength(2);
    const bundle = bundleOf(event);
    const status = statusOf(bundle);
    expect(status).toMatchObject({
      type: 'event-notification',
      'events-since-subscription-start': '1',
      subscription: `${server.fhirBase}/Subscription/${sub.body.id}`,
    });
    expect(bundle.entry[1].resource).toMatchObject({
      resourceType: 'Encounter',
      id: mine.body.id,
      status: 'finished',
      meta: { versionId: '2' },
    });
    expect(bundle.entry[1].request).toEqual({ method: 'PUT', url: `Encounter/${mine.body.id}` });
  });

  it('sends heartbeats when nothing happened for the heartbeat period', async () => {
    const hb = await startReceiver();
    try {
      const sub = await fhir(server, 'POST', 'Subscription', {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'heartbeats',
        criteria: TOPIC_URL,
        channel: {
          type: 'rest-hook',
          endpoint: hb.url,
          extension: [{ url: `${BACKPORT}backport-heartbeat-period`, valueUnsignedInt: 1 }],
        },
      });
      expect(sub.status).toBe(201);
      const received = await hb.waitFor(3, 15_000);
      expect(received.map((r) => statusOf(bundleOf(r)).type)).toEqual(['handshake', 'heartbeat', 'heartbeat']);
      expect(received[1].at - received[0].at).toBeGreaterThanOrEqual(900);
    } finally {
      await hb.close();
    }
  });
});
