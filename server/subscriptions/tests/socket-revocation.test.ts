import * as client from 'openid-client';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir } from '../../../test/harness.ts';
import { openSocket, type TestSocket } from '../../../test/ws-client.ts';
import { adminApi, adminToken, oidcClient, startAuthServer } from '../../../test/auth-helpers.ts';

/**
 * Websocket bindings and binding tokens are tied to the access token they were made with: revoking it, deleting its
 * client, or its expiry closes the sockets, and a binding token made with it no longer binds (nor replays events).
 */

const CONTENT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content';
const TTL_S = 4;
let server: Tributary;
let shortLived: Tributary;

beforeAll(async () => {
  [server, shortLived] = await Promise.all([startAuthServer(), startAuthServer({ ACCESS_TOKEN_TTL: String(TTL_S) })]);
}, 120_000);
afterAll(async () => {
  await Promise.all([server?.close(), shortLived?.close()]);
});

const wsUrl = (s: Tributary) => `${s.url.replace(/^http/, 'ws')}/ws/subscriptions`;

interface Backend {
  token: string;
  secret: string;
  clientId: string;
}

/** A backend client registered by the admin, and a token of it. */
async function backend(s: Tributary, clientId: string): Promise<Backend> {
  const admin = await adminToken(s);
  const scope = 'system/*.rs';
  const registered = await adminApi(s, admin, 'POST', '/admin/clients', {
    client_id: clientId,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope,
  });
  const config = await oidcClient(s, clientId, client.ClientSecretBasic(registered.client_secret));
  return {
    token: (await client.clientCredentialsGrant(config, { scope })).access_token,
    secret: registered.client_secret,
    clientId,
  };
}

/** A full-resource websocket Subscription made by the admin, with one event already in its log. */
async function subscriptionWithEvent(s: Tributary, code: string): Promise<string> {
  const asAdmin = { authorization: `Bearer ${await adminToken(s)}` };
  const sub = await fhir(
    s,
    'POST',
    'Subscription',
    {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'revocation',
      criteria: `Observation?code=${code}`,
      channel: {
        type: 'websocket',
        payload: 'application/fhir+json',
        _payload: { extension: [{ url: CONTENT, valueCode: 'full-resource' }] },
      },
    },
    asAdmin,
  );
  expect(sub.status).toBe(201);
  await fhir(
    s,
    'POST',
    'Observation',
    { resourceType: 'Observation', status: 'final', code: { coding: [{ code }] } },
    asAdmin,
  );
  const counted = async () =>
    (await s.pool.query('SELECT events FROM subscription_counter WHERE subscription_id = $1', [sub.body.id])).rows[0];
  for (let i = 0; i < 200 && !(await counted()); i++) await new Promise((r) => setTimeout(r, 50));
  return sub.body.id;
}

async function bindingToken(s: Tributary, id: string, token: string): Promise<{ token: string; expiration: string }> {
  const res = await fhir(s, 'POST', `Subscription/${id}/$get-ws-binding-token`, undefined, {
    authorization: `Bearer ${token}`,
  });
  expect(res.status).toBe(200);
  const p = Object.fromEntries(res.body.parameter.map((x: any) => [x.name, x.valueString ?? x.valueDateTime]));
  return { token: p.token, expiration: p.expiration };
}

/** Binds with a binding token from event 0 and returns the socket once the handshake and the catch-up are in. */
async function boundSocket(s: Tributary, subscriptionId: string, binding: string): Promise<TestSocket> {
  const socket = await openSocket(wsUrl(s));
  socket.ws.send(`bind-with-token ${binding} 0`);
  await socket.waitFor(2); // handshake + the event already logged
  expect(
    socket.messages.map((m) => JSON.parse(m).entry[0].resource.parameter.find((p: any) => p.name === 'type').valueCode),
  ).toEqual(['handshake', 'event-notification']);
  expect(socket.messages[1]).toContain(`Subscription/${subscriptionId}`);
  return socket;
}

/** Resolves with the close code and reason, or rejects when the socket is still open after `ms`. */
function closedWithin(socket: TestSocket, ms: number): Promise<[number, string]> {
  return Promise.race([
    once(socket.ws, 'close').then(([code, reason]) => [code as number, String(reason)] as [number, string]),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`the socket was still open after ${ms} ms`)), ms),
    ),
  ]);
}

/** What a fresh socket is told for `bind-with-token <binding> 0`, followed by a command that marks the end. */
async function bindAfterwards(s: Tributary, binding: string): Promise<string[]> {
  const socket = await openSocket(wsUrl(s));
  socket.ws.send(`bind-with-token ${binding} 0`);
  socket.ws.send('unbind end-marker');
  const messages = await socket.waitFor(1);
  while (messages.at(-1) !== 'unbound end-marker') await socket.waitFor(messages.length + 1);
  await socket.close();
  return messages.slice(0, -1);
}

function revoke(s: Tributary, b: Backend): Promise<Response> {
  return fetch(`${s.url}/auth/revoke`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${b.clientId}:${b.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token: b.token }),
  });
}

describe('websockets end with their access token', () => {
  it('revocation closes the bound sockets (both ways of binding) and its binding tokens replay nothing', async () => {
    const id = await subscriptionWithEvent(server, 'revoked-socket');
    const reader = await backend(server, 'socket-reader');
    const first = await bindingToken(server, id, reader.token);
    const unused = await bindingToken(server, id, reader.token);
    const bundles = await boundSocket(server, id, first.token);
    const pings = await openSocket(wsUrl(server), { authorization: `Bearer ${reader.token}` });
    pings.ws.send(`bind ${id}`);
    await pings.waitFor(1);
    expect(pings.messages[0]).toBe(`bound ${id}`);

    const closing = [closedWithin(bundles, 5000), closedWithin(pings, 5000)];
    expect((await revoke(server, reader)).status).toBe(200);
    expect(await Promise.all(closing)).toEqual([
      [1008, 'the access token was revoked'],
      [1008, 'the access token was revoked'],
    ]);
    expect(await bindAfterwards(server, unused.token)).toEqual([
      'error the binding token is unknown, expired or revoked',
    ]);
    expect(
      (
        await fhir(server, 'POST', `Subscription/${id}/$get-ws-binding-token`, undefined, {
          authorization: `Bearer ${reader.token}`,
        })
      ).status,
    ).toBe(401);
  });

  it('deleting the client closes its sockets and ends its binding tokens', async () => {
    const id = await subscriptionWithEvent(server, 'deleted-client-socket');
    const reader = await backend(server, 'doomed-socket-reader');
    const binding = await bindingToken(server, id, reader.token);
    const socket = await boundSocket(server, id, binding.token);
    const closing = closedWithin(socket, 5000);
    const res = await fetch(`${server.url}/auth/admin/clients/${reader.clientId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${await adminToken(server)}` },
    });
    expect(res.status).toBe(204);
    expect(await closing).toEqual([1008, 'the access token was revoked']);
    expect(await bindAfterwards(server, binding.token)).toEqual([
      'error the binding token is unknown, expired or revoked',
    ]);
  });

  it('expiry of the access token closes the socket; the binding token expires with it', async () => {
    const id = await subscriptionWithEvent(shortLived, 'expiring-socket');
    const reader = await backend(shortLived, 'expiring-reader');
    const issuedAt = Date.now();
    const binding = await bindingToken(shortLived, id, reader.token);
    // The binding token's expiration is the access token's (within a second), not the usual 10 minutes.
    expect(Date.parse(binding.expiration)).toBeLessThanOrEqual(issuedAt + TTL_S * 1000 + 1000);
    const socket = await boundSocket(shortLived, id, binding.token);
    expect(await closedWithin(socket, TTL_S * 1000 + 3000)).toEqual([1008, 'the access token expired']);
    expect(await bindAfterwards(shortLived, binding.token)).toEqual([
      'error the binding token is unknown, expired or revoked',
    ]);
  });
});
