import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { openSocket } from '../../../test/ws-client.ts';
import { adminToken, startAuthServer } from '../../../test/auth-helpers.ts';

const CONTENT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content';
let server: Tributary;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const wsUrl = (s: Tributary) => `${s.url.replace(/^http/, 'ws')}/ws/subscriptions`;
const obs = (code: string, value: number) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ code }] },
  valueInteger: value,
});

async function websocketSubscription(s: Tributary, code: string, headers: Record<string, string> = {}) {
  const res = await fhir(
    s,
    'POST',
    'Subscription',
    {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'websocket test',
      criteria: `Observation?code=${code}`,
      channel: {
        type: 'websocket',
        payload: 'application/fhir+json',
        _payload: { extension: [{ url: CONTENT, valueCode: 'full-resource' }] },
      },
    },
    headers,
  );
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function bindingToken(s: Tributary, id: string, headers: Record<string, string> = {}) {
  const res = await fhir(s, 'POST', `Subscription/${id}/$get-ws-binding-token`, undefined, headers);
  expect(res.status).toBe(200);
  const p = Object.fromEntries(
    res.body.parameter.map((x: any) => [x.name, x.valueString ?? x.valueUrl ?? x.valueDateTime]),
  );
  return p as { token: string; 'websocket-url': string; expiration: string };
}

const eventOf = (message: string) => {
  const bundle = JSON.parse(message);
  const status = bundle.entry[0].resource.parameter;
  const type = status.find((p: any) => p.name === 'type').valueCode;
  const number = status
    .find((p: any) => p.name === 'notification-event')
    ?.part.find((p: any) => p.name === 'event-number').valueString;
  return { type, number: number && Number(number), resource: bundle.entry[1]?.resource };
};

describe('websocket subscriptions', () => {
  it('binds with a $get-ws-binding-token token: handshake, then event notifications with the resources', async () => {
    const id = await websocketSubscription(server, 'ws-a');
    const binding = await bindingToken(server, id);
    expect(binding['websocket-url']).toBe(wsUrl(server));
    const socket = await openSocket(binding['websocket-url']);
    socket.ws.send(`bind-with-token ${binding.token}`);
    await socket.waitFor(1);
    expect(eventOf(socket.messages[0]).type).toBe('handshake');
    const a = await fhir(server, 'POST', 'Observation', obs('ws-a', 1));
    await fhir(server, 'POST', 'Observation', obs('other', 1));
    const b = await fhir(server, 'POST', 'Observation', obs('ws-a', 2));
    await socket.waitFor(3);
    const events = socket.messages.slice(1).map(eventOf);
    expect(events.map((e) => [e.type, e.number, e.resource.id])).toEqual([
      ['event-notification', 1, a.body.id],
      ['event-notification', 2, b.body.id],
    ]);
    await socket.close();
  });

  it('a reconnecting client catches up from the last event it saw', async () => {
    const id = await websocketSubscription(server, 'ws-b');
    const first = await openSocket(wsUrl(server));
    first.ws.send(`bind-with-token ${(await bindingToken(server, id)).token}`);
    await first.waitFor(1);
    await fhir(server, 'POST', 'Observation', obs('ws-b', 1));
    await first.waitFor(2);
    await first.close();
    // Missed while disconnected:
    const missed = [
      await fhir(server, 'POST', 'Observation', obs('ws-b', 2)),
      await fhir(server, 'POST', 'Observation', obs('ws-b', 3)),
    ];
    const again = await openSocket(wsUrl(server));
    again.ws.send(`bind-with-token ${(await bindingToken(server, id)).token} 1`);
    await again.waitFor(3);
    const caught = again.messages.slice(1).map(eventOf);
    expect(caught.map((e) => [e.number, e.resource.id])).toEqual([
      [2, missed[0].body.id],
      [3, missed[1].body.id],
    ]);
    await again.close();
  });

  it('speaks R4: bind <id> is answered bound <id>, then ping <id> per event; bad commands get an error', async () => {
    const id = await websocketSubscription(server, 'ws-c');
    const socket = await openSocket(wsUrl(server));
    socket.ws.send(`bind ${id}`);
    await socket.waitFor(1);
    expect(socket.messages[0]).toBe(`bound ${id}`);
    await fhir(server, 'POST', 'Observation', obs('ws-c', 1));
    await socket.waitFor(2);
    expect(socket.messages[1]).toBe(`ping ${id}`);
    socket.ws.send('bind no-such-subscription');
    socket.ws.send('bind-with-token not-a-token');
    socket.ws.send('subscribe everything');
    await socket.waitFor(5);
    expect(socket.messages.slice(2)).toEqual([
      expect.stringMatching(/^error no-such-subscription: no such websocket subscription/),
      expect.stringMatching(/^error the binding token is unknown, expired or revoked/),
      expect.stringMatching(/^error unknown command/),
    ]);
    await socket.close();
  });
});

describe('websocket subscriptions with authorization on', () => {
  let secured: Tributary;
  let token: string;
  beforeAll(async () => {
    secured = await startAuthServer();
    token = await adminToken(secured);
  });
  afterAll(async () => {
    await secured?.close();
  });

  it('binds the R4 way only with a token that may read the Subscription', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const id = await websocketSubscription(secured, 'ws-d', auth);
    const anonymous = await openSocket(wsUrl(secured));
    anonymous.ws.send(`bind ${id}`);
    await anonymous.waitFor(1);
    expect(anonymous.messages[0]).toMatch(/^error .*not allowed/);
    await anonymous.close();
    const withToken = await openSocket(wsUrl(secured), auth);
    withToken.ws.send(`bind ${id}`);
    await withToken.waitFor(1);
    expect(withToken.messages[0]).toBe(`bound ${id}`);
    await fhir(secured, 'POST', 'Observation', obs('ws-d', 1), auth);
    await withToken.waitFor(2);
    expect(withToken.messages[1]).toBe(`ping ${id}`);
    await withToken.close();
    // $get-ws-binding-token itself needs a token.
    expect((await fhir(secured, 'POST', `Subscription/${id}/$get-ws-binding-token`)).status).toBe(401);
  });
});
