import * as client from 'openid-client';
import { pino } from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { adminApi as authAdminApi, adminToken, oidcClient, startAuthServer } from '../../../test/auth-helpers.ts';
import { createPool } from '../../db/pool.ts';
import { badRequest } from '../../fhir/outcomes.ts';
import { loadJobConfig } from '../../jobs/config.ts';
import { JobRunner } from '../../jobs/runner.ts';
import { until } from '../../../test/until.ts';
import { Inbox } from '../inbox.ts';
import type { StoredMessage } from '../store.ts';

/**
 * The doors' inbox: idempotent reception across nodes, processing into FHIR with failures up to the dead letter, and
 * the admin API (list, inspect, replay on the job runner, purge) for admins only.
 */
let server: Tributary;
let admin: string;
let otherPool: pg.Pool;
/** A second node's inbox on the same database. */
let otherNode: Inbox;
/** Whether the toy door's downstream system is up. */
let downstreamUp = false;
const SOURCE = { door: 'toy', endpoint: 'tcp:2575' };

/**
 * The toy door's processor: a JSON payload `{mrn, family, needsDownstream?}` becomes a Patient, written with a
 * conditional create on its identifier (so a replay changes nothing). Not JSON: refused for good.
 */
async function toyProcess(message: StoredMessage): Promise<unknown> {
  let body: { mrn: string; family: string; needsDownstream?: boolean };
  try {
    body = JSON.parse(message.payload.toString('utf8'));
  } catch {
    throw badRequest('The payload is not JSON');
  }
  if (body.needsDownstream && !downstreamUp) throw new Error('the downstream system is unavailable');
  const res = await server.router.handle(
    { repo: server.repo, baseUrl: server.fhirBase, requestId: `inbox-${message.id}`, access: { kind: 'system' } },
    {
      method: 'POST',
      path: 'Patient',
      query: {},
      headers: { ifNoneExist: `identifier=urn:toy|${body.mrn}` },
      body: {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:toy', value: body.mrn }],
        name: [{ family: body.family }],
      },
    },
  );
  return { status: res.status, location: res.headers?.location };
}

beforeAll(async () => {
  server = await startAuthServer();
  admin = await adminToken(server);
  server.inbox.registerDoor('toy', { process: toyProcess, maxAttempts: 2 });
  otherPool = createPool(server.pool.options.connectionString as string, 4);
  otherNode = new Inbox(
    otherPool,
    new JobRunner({ pool: otherPool, databaseUrl: '', logger: pino({ level: 'silent' }), config: loadJobConfig({}) }),
    pino({ level: 'silent' }),
  );
});
afterAll(async () => {
  await otherPool?.end();
  await server?.close();
});

const payload = (mrn: string, extra: object = {}) => JSON.stringify({ mrn, family: `Family${mrn}`, ...extra });

async function call(
  path: string,
  init: { method?: string; token?: string; body?: string } = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/admin/${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), 'content-type': 'application/json' },
    body: init.body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('receiving', () => {
  it('stores a message once per source and dedup key, however many nodes receive it at once', async () => {
    const attempts = Array.from({ length: 40 }, (_, i) =>
      (i % 2 ? otherNode : server.inbox).receive(SOURCE, 'MSG-1', payload('1')),
    );
    const results = await Promise.all(attempts);
    expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    const { rows } = await server.pool.query(
      `SELECT count(*)::int AS n, max(duplicates) AS duplicates FROM inbox_message WHERE dedup_key = 'MSG-1'`,
    );
    expect(rows[0]).toEqual({ n: 1, duplicates: 39 });
    // the same key from another endpoint is another message; without a key, the payload's hash is the key
    expect((await server.inbox.receive({ door: 'toy', endpoint: 'tcp:2576' }, 'MSG-1', payload('1'))).duplicate).toBe(
      false,
    );
    const first = await server.inbox.receive(SOURCE, undefined, payload('2'));
    const again = await server.inbox.receive(SOURCE, undefined, Buffer.from(payload('2')));
    expect([first.duplicate, again.duplicate, again.message.id]).toEqual([false, true, first.message.id]);
  });
});

describe('processing', () => {
  it('processes a message into FHIR once, and a replay changes nothing', async () => {
    const { message } = await server.inbox.receive(SOURCE, 'MSG-10', payload('10'));
    const done = await server.inbox.process(message.id);
    expect(done).toMatchObject({ state: 'processed', attempts: 1, error: null, result: { status: 201 } });
    expect((await server.inbox.process(message.id))?.result).toMatchObject({ status: 200 });
    const { rows } = await server.pool.query(
      `SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Patient' AND content LIKE '%Family10%'`,
    );
    expect(rows[0].n).toBe(1);
  });

  it('records failures with their OperationOutcome up to the dead letter', async () => {
    const { message } = await server.inbox.receive(SOURCE, 'MSG-11', payload('11', { needsDownstream: true }));
    expect(await server.inbox.process(message.id)).toMatchObject({ state: 'failed', attempts: 1 });
    const dead = await server.inbox.process(message.id);
    expect(dead).toMatchObject({ state: 'dead', attempts: 2 });
    expect(dead?.error?.issue?.[0].diagnostics).toBe('the downstream system is unavailable');
    const { message: garbage } = await server.inbox.receive(
      SOURCE,
      'MSG-12',
      Buffer.from([0xff, 0x00, 0x01]),
      'application/octet-stream',
    );
    const refused = await server.inbox.process(garbage.id);
    expect(refused).toMatchObject({ state: 'dead', attempts: 1 });
    expect(refused?.error?.issue?.[0].diagnostics).toBe('The payload is not JSON');
  });
});

describe('the admin API', () => {
  it('is for admins only', async () => {
    const plain = await authAdminApi(server, admin, 'POST', '/admin/clients', {
      client_id: 'plain-backend',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'system/*.*',
    });
    const nonAdmin = (
      await client.clientCredentialsGrant(
        await oidcClient(server, 'plain-backend', client.ClientSecretBasic(plain.client_secret)),
        { scope: 'system/*.*' },
      )
    ).access_token;
    const narrowAdmin = await adminToken(server, 'system/*.rs');
    for (const path of ['inbox', 'inbox/1', 'jobs']) {
      expect((await call(path)).status).toBe(401);
      expect((await call(path, { token: nonAdmin })).status).toBe(403);
      expect((await call(path, { token: narrowAdmin })).status).toBe(403);
    }
    for (const [path, method] of [
      ['inbox/replay', 'POST'],
      ['inbox/purge', 'POST'],
      ['inbox/1', 'DELETE'],
    ]) {
      expect((await call(path, { method, token: nonAdmin, body: '{}' })).status).toBe(403);
    }
    expect((await call('inbox', { token: admin })).status).toBe(200);
    // nothing was purged or replayed by the refused requests
    expect((await call('inbox?door=toy&state=dead', { token: admin })).body.messages).toHaveLength(2);
  });

  it('lists messages by source and state, page by page, and shows one with its payload', async () => {
    const dead = await call('inbox?door=toy&state=dead', { token: admin });
    expect(dead.body.messages.map((m: any) => m.dedupKey)).toEqual(['MSG-12', 'MSG-11']);
    expect(dead.body.messages[0]).not.toHaveProperty('payload');
    const page1 = await call('inbox?door=toy&endpoint=tcp:2575&limit=2', { token: admin });
    expect(page1.body.messages).toHaveLength(2);
    const page2 = await call(page1.body.next.replace(/^\/admin\//, ''), { token: admin });
    expect(page2.body.messages[0].id).toBeLessThan(page1.body.messages[1].id);
    const one = await call(`inbox/${dead.body.messages[1].id}`, { token: admin });
    expect(one.body.payload.text).toBe(payload('11', { needsDownstream: true }));
    expect(Buffer.from(one.body.payload.base64, 'base64').toString()).toBe(one.body.payload.text);
    const binary = await call(`inbox/${dead.body.messages[0].id}`, { token: admin });
    expect(binary.body.payload).toEqual({ base64: Buffer.from([0xff, 0x00, 0x01]).toString('base64') });
  });

  it('replays a dead message on the job runner once its cause is fixed', async () => {
    downstreamUp = true;
    const [dead] = (await call('inbox?door=toy&state=dead', { token: admin })).body.messages.filter(
      (m: any) => m.dedupKey === 'MSG-11',
    );
    const replay = await call(`inbox/${dead.id}/replay`, { method: 'POST', token: admin });
    expect(replay.status).toBe(202);
    expect(replay.body.messages).toBe(1);
    const jobId = replay.body.jobs[0].id;
    const job = await until(
      async () => {
        const j = (await call(`jobs/${jobId}`, { token: admin })).body;
        return j.state === 'succeeded' && j;
      },
      20_000,
      'the replay job',
    );
    expect(job.result.parameter).toEqual([
      { name: 'replayed', valueInteger: 1 },
      { name: 'processed', valueInteger: 1 },
      { name: 'failed', valueInteger: 0 },
    ]);
    expect((await call(`inbox/${dead.id}`, { token: admin })).body).toMatchObject({
      state: 'processed',
      attempts: 1,
      error: null,
    });
    // replaying everything dead replays the unparseable message, which dies again
    const all = await call('inbox/replay', { method: 'POST', token: admin, body: JSON.stringify({ door: 'toy' }) });
    expect(all.body.messages).toBe(1);
    await until(
      async () => (await server.inbox.get(all.body.jobs[0].input.ids[0]))?.state === 'dead',
      20_000,
      'the second replay',
    );
  });

  it('refuses a replay for a door this node does not run, changing nothing', async () => {
    const { message } = await server.inbox.receive({ door: 'elsewhere', endpoint: 'x' }, undefined, 'payload');
    await server.inbox.markFailed(message.id, badRequest('no').outcome, { permanent: true });
    const res = await call(`inbox/${message.id}/replay`, { method: 'POST', token: admin });
    expect(res.status).toBe(409);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect((await server.inbox.get(message.id))?.state).toBe('dead');
  });

  it('purges messages', async () => {
    const before = (await call('inbox?door=toy&state=processed', { token: admin })).body.messages.length;
    expect(before).toBeGreaterThan(0);
    expect(
      (await call('inbox/purge', { method: 'POST', token: admin, body: JSON.stringify({ door: 'toy' }) })).body,
    ).toEqual({ purged: before });
    expect((await call('inbox?door=toy&state=processed', { token: admin })).body.messages).toEqual([]);
    const [dead] = (await call('inbox?door=toy&state=dead', { token: admin })).body.messages;
    expect((await call(`inbox/${dead.id}`, { method: 'DELETE', token: admin })).status).toBe(204);
    expect((await call(`inbox/${dead.id}`, { token: admin })).status).toBe(404);
    expect((await call(`inbox/${dead.id}`, { method: 'DELETE', token: admin })).status).toBe(404);
  });

  it('answers bad requests with 400 and an OperationOutcome', async () => {
    for (const [path, method, body] of [
      ['inbox?state=bogus', 'GET'],
      ['inbox?limit=0', 'GET'],
      ['inbox?door=a&door=b', 'GET'],
      ['inbox/abc', 'GET'],
      ['inbox/replay', 'POST', '{not json'],
      ['inbox/replay', 'POST', '[]'],
      ['inbox/purge', 'POST', '{"states":["gone"]}'],
      ['inbox/purge', 'POST', '{"before":"yesterday"}'],
      ['jobs?state=bogus', 'GET'],
      ['jobs?before=x', 'GET'],
    ] as const) {
      const res = await call(path, { method, token: admin, body });
      expect([path, res.status, res.body?.resourceType]).toEqual([path, 400, 'OperationOutcome']);
    }
  });
});
