import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { startReceiver, type Receiver } from '../../../test/receiver.ts';
import { until } from '../../../test/until.ts';

const MAX_ATTEMPTS_EXT = 'https://tributary.dev/fhir/StructureDefinition/subscription-max-attempts';
let server: Tributary;
const receivers: Receiver[] = [];

beforeAll(async () => {
  server = await startTestServer(
    {},
    {
      SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1',
      SUBSCRIPTION_RETRY_BASE_MS: '10',
      SUBSCRIPTION_RETRY_MAX_MS: '200',
      SUBSCRIPTION_TIMEOUT_MS: '300',
    },
  );
});
afterAll(async () => {
  await server?.close();
  for (const r of receivers) await r.close();
});

/** A small deterministic PRNG (mulberry32), so the flaky receiver fails the same way on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function subscribe(endpoint: string, code: string, extension: object[] = []) {
  const res = await fhir(server, 'POST', 'Subscription', {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'delivery test',
    criteria: `Observation?code=${code}`,
    ...(extension.length ? { extension } : {}),
    channel: { type: 'rest-hook', endpoint, payload: 'application/fhir+json' },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

const obs = (code: string, value: number) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ code }] },
  valueInteger: value,
});

describe('delivery', () => {
  it('a flaky receiver (50% 500s, some timeouts) still gets every event, in order per resource', async () => {
    const random = prng(42);
    const accepted: { resource: string; version: number }[] = [];
    const receiver = await startReceiver((req, res) => {
      const roll = random();
      if (roll < 0.5) return void res.writeHead(500).end('flaky');
      if (roll < 0.6) return; // no answer: the sender times out
      const [type, id, , version] = String(req.headers['x-tributary-resource']).split('/');
      accepted.push({ resource: `${type}/${id}`, version: Number(version) });
      res.end();
    });
    receivers.push(receiver);
    // Enough attempts that 60% failures cannot exhaust them (0.6^50 per event).
    await subscribe(receiver.url, 'flaky', [{ url: MAX_ATTEMPTS_EXT, valuePositiveInt: 50 }]);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await fhir(server, 'POST', 'Observation', obs('flaky', 0))).body.id);
    const written = new Set(ids.map((id) => `Observation/${id}/1`));
    for (let round = 1; round <= 4; round++) {
      await Promise.all(
        ids.map(async (id) => {
          const res = await fhir(server, 'PUT', `Observation/${id}`, { ...obs('flaky', round), id });
          expect(res.status).toBe(200);
          written.add(`Observation/${id}/${round + 1}`);
        }),
      );
    }
    await until(async () => (accepted.length >= written.size ? true : undefined), 60_000);
    const got = new Set(accepted.map((a) => `${a.resource}/${a.version}`));
    expect(got).toEqual(written);
    expect(accepted.length).toBe(written.size); // each accepted once
    for (const id of ids) {
      const versions = accepted.filter((a) => a.resource === `Observation/${id}`).map((a) => a.version);
      expect(versions).toEqual([1, 2, 3, 4, 5]);
    }
    expect(receiver.received.length).toBeGreaterThan(written.size); // failures really happened
  }, 90_000);

  it('a receiver that is down for good ends in the dead letter, the Subscription in error; $resend replays it', async () => {
    let up = false;
    const receiver = await startReceiver((_req, res) => void res.writeHead(up ? 200 : 503).end());
    receivers.push(receiver);
    const subId = await subscribe(receiver.url, 'down', [{ url: MAX_ATTEMPTS_EXT, valuePositiveInt: 3 }]);
    const written = await fhir(server, 'POST', 'Observation', obs('down', 7));
    const dead = await until(async () => {
      const res = await fhir(server, 'GET', `Subscription/${subId}/$dead-letter`);
      return res.body.parameter?.length ? res.body.parameter : undefined;
    });
    expect(receiver.received.length).toBe(3);
    const parts = Object.fromEntries(
      dead[0].part.map((p: any) => [p.name, p.valueString ?? p.valueInteger ?? p.valueReference?.reference]),
    );
    expect(parts).toMatchObject({ attempts: 3, 'event-number': '1', error: expect.stringContaining('503') });
    expect(parts.focus).toBe(`${server.fhirBase}/Observation/${written.body.id}/_history/1`);
    const errored = await until(async () => {
      const sub = (await fhir(server, 'GET', `Subscription/${subId}`)).body;
      return sub.status === 'error' ? sub : undefined;
    });
    expect(errored.error).toContain('503');
    // All subscriptions' dead letters, at the type level, include it too.
    expect((await fhir(server, 'GET', 'Subscription/$dead-letter')).body.parameter.length).toBeGreaterThanOrEqual(1);

    up = true;
    const resent = await fhir(server, 'POST', `Subscription/${subId}/$resend`, { resourceType: 'Parameters' });
    expect(resent.status).toBe(200);
    expect(resent.body.parameter[0].valueInteger).toBe(1);
    await receiver.waitFor(4);
    expect(receiver.received[3].headers['x-tributary-resource']).toBe(`Observation/${written.body.id}/_history/1`);
    await until(async () =>
      (await fhir(server, 'GET', `Subscription/${subId}`)).body.status === 'active' ? true : undefined,
    );
    expect((await fhir(server, 'GET', `Subscription/${subId}/$dead-letter`)).body.parameter ?? []).toEqual([]);
  }, 60_000);

  it('keeps the event log: $events lists events by number, $status counts them', async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const subId = await subscribe(receiver.url, 'logged');
    const a = await fhir(server, 'POST', 'Observation', obs('logged', 1));
    const b = await fhir(server, 'POST', 'Observation', obs('logged', 2));
    await receiver.waitFor(2);
    const status = await fhir(server, 'GET', `Subscription/${subId}/$status`);
    const params = status.body.entry[0].resource.parameter;
    expect(params.find((p: any) => p.name === 'events-since-subscription-start').valueString).toBe('2');
    const events = await fhir(server, 'GET', `Subscription/${subId}/$events?eventsSinceNumber=2&content=full-resource`);
    expect(events.body.type).toBe('history');
    expect(events.body.entry).toHaveLength(2);
    expect(events.body.entry[1].resource).toMatchObject({ id: b.body.id, valueInteger: 2 });
    const all = await fhir(server, 'GET', `Subscription/${subId}/$events`);
    expect(all.body.entry.slice(1).map((e: any) => e.fullUrl)).toEqual(
      [a, b].map((x) => `${server.fhirBase}/Observation/${x.body.id}`),
    );
  });

  it('survives losing its database sessions (listener, outbox reader): they reconnect and delivery goes on', async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    await subscribe(receiver.url, 'reconnect');
    await fhir(server, 'POST', 'Observation', obs('reconnect', 1));
    await receiver.waitFor(1);
    const { rows } = await server.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
       AND application_name IN ('tributary-outbox-reader', 'tributary-subscriptions')`,
    );
    expect(rows).toHaveLength(2);
    for (const { pid } of rows) await server.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await fhir(server, 'POST', 'Observation', obs('reconnect', 2));
    await receiver.waitFor(2, 20_000);
    expect(receiver.received[1].headers['x-tributary-event-number']).toBe('2');
  });
});
