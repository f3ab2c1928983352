import * as client from 'openid-client';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { createTestDatabase, dropTestDatabase, fhir, startTestServer } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { openSocket } from '../../test/ws-client.ts';
import { ADMIN, adminApi, adminToken, oidcClient } from '../../test/auth-helpers.ts';

/**
 * Revocations and client deletions reach every node at once: two Tributary instances share one Postgres, each with
 * its own 5-second token cache; what is revoked on one stops working on the other before that cache would expire.
 */

const ENV = {
  AUTH: 'on',
  ADMIN_CLIENT_ID: ADMIN.id,
  ADMIN_CLIENT_SECRET: ADMIN.secret,
  AUDIT: 'off',
  AUTH_RATE_LIMIT: '0',
};
/** Well under the token cache's 5 s: a refusal later than this would be the cache running out, not the revocation. */
const AT_ONCE_MS = 1500;

let databaseUrl: string;
let a: Tributary;
let b: Tributary;
let admin: string;

beforeAll(async () => {
  databaseUrl = await createTestDatabase('revoke');
  a = await startTestServer({ databaseUrl }, ENV);
  // One public FHIR base for the cluster, as behind a load balancer: tokens are issued for it.
  b = await startTestServer({ databaseUrl, baseUrl: a.fhirBase }, ENV);
  admin = await adminToken(a);
}, 120_000);
afterAll(async () => {
  await b?.close();
  await a?.close();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

/** Registers a backend client on node A and returns a client_credentials token of it. */
async function backendToken(clientId: string, scope = 'system/*.rs'): Promise<{ token: string; secret: string }> {
  const registered = await adminApi(a, admin, 'POST', '/admin/clients', {
    client_id: clientId,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope,
  });
  const config = await oidcClient(a, clientId, client.ClientSecretBasic(registered.client_secret));
  return {
    token: (await client.clientCredentialsGrant(config, { scope })).access_token,
    secret: registered.client_secret,
  };
}

const read = (node: Tributary, token: string) =>
  fhir(node, 'GET', 'Patient?_count=1', undefined, { authorization: `Bearer ${token}` });

/** Milliseconds until `node` refuses the token (401), polling; throws when it still serves it after AT_ONCE_MS. */
async function msUntilRefused(node: Tributary, token: string): Promise<number> {
  const start = Date.now();
  await until(async () => (await read(node, token)).status === 401, AT_ONCE_MS, 'the token to be refused');
  return Date.now() - start;
}

describe('revocation across nodes', () => {
  it('a deleted client’s tokens stop working on every node at once', async () => {
    const { token } = await backendToken('doomed-client');
    // Both nodes have resolved (and cached) the token.
    expect((await read(a, token)).status).toBe(200);
    expect((await read(b, token)).status).toBe(200);
    const res = await fetch(`${a.url}/auth/admin/clients/doomed-client`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(204);
    expect((await read(a, token)).status).toBe(401);
    const ms = await msUntilRefused(b, token);
    console.log(`client deletion on node A: node B refused its token after ${ms} ms`);
    // Everything issued to it is gone, not merely hidden by the caches.
    const left = await a.pool.query(
      `SELECT model FROM oidc_payload WHERE payload->>'clientId' = 'doomed-client' OR id = 'doomed-client'`,
    );
    expect(left.rows).toEqual([]);
    const unknown = await fetch(`${a.url}/auth/admin/clients/doomed-client`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(unknown.status).toBe(404);
  });

  it('a token revoked on one node stops working on the other at once', async () => {
    const { token, secret } = await backendToken('revoking-client');
    expect((await read(b, token)).status).toBe(200);
    const revoke = await fetch(`${a.url}/auth/revoke`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`revoking-client:${secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    expect(revoke.status).toBe(200);
    const ms = await msUntilRefused(b, token);
    console.log(`revocation on node A: node B refused the token after ${ms} ms`);
  });

  it('refuses a token whose client no longer exists, even where its token record remains', async () => {
    const { token } = await backendToken('vanishing-client');
    // The client record alone disappears (as when removed by a node that did not revoke its tokens).
    await a.pool.query(`DELETE FROM oidc_payload WHERE model = 'Client' AND id = 'vanishing-client'`);
    const res = await read(b, token);
    expect(res.status).toBe(401);
    expect(res.body.issue[0].diagnostics).toMatch(/client that no longer exists/);
  });

  it('closes a websocket bound on one node when its token is revoked on the other', async () => {
    const { token, secret } = await backendToken('socket-client');
    const asAdmin = { authorization: `Bearer ${admin}` };
    const sub = await fhir(
      a,
      'POST',
      'Subscription',
      {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'revocation',
        criteria: 'Observation?code=revocation',
        channel: { type: 'websocket' },
      },
      asAdmin,
    );
    expect(sub.status).toBe(201);
    const socket = await openSocket(`${b.url.replace(/^http/, 'ws')}/ws/subscriptions`, {
      authorization: `Bearer ${token}`,
    });
    socket.ws.send(`bind ${sub.body.id}`);
    await socket.waitFor(1);
    expect(socket.messages[0]).toBe(`bound ${sub.body.id}`);
    const closed = once(socket.ws, 'close');
    const revoke = await fetch(`${a.url}/auth/revoke`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`socket-client:${secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    expect(revoke.status).toBe(200);
    const [code, reason] = (await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the socket stayed open')), AT_ONCE_MS)),
    ])) as [number, Buffer];
    expect([code, String(reason)]).toEqual([1008, 'the access token was revoked']);
  });
});
