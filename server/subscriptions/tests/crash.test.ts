import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/global-setup.ts';
import { createTestDatabase, dropTestDatabase } from '../../../test/harness.ts';
import { startReceiver, type Receiver } from '../../../test/receiver.ts';
import { startServerProcess } from '../../../test/server-process.ts';

const KILLS = 10;
const ENV = {
  SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1',
  SUBSCRIPTION_RETRY_BASE_MS: '50',
  SUBSCRIPTION_RETRY_MAX_MS: '500',
  SUBSCRIPTION_MAX_ATTEMPTS: '100',
  BOT_MODULES: 'test/bots/recorder.ts',
};

let databaseUrl: string;
let port: number;
let db: pg.Client;
let receiver: Receiver;
let child: ChildProcess | undefined;

beforeAll(async () => {
  databaseUrl = await createTestDatabase('subcrash');
  port = await freePort();
  db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  receiver = await startReceiver();
});
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await receiver?.close();
  await db?.end();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

const base = () => `http://127.0.0.1:${port}/fhir`;
async function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${base()}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
    body: JSON.stringify(body),
  });
}

/** Writes Observations (creates, and updates of earlier ones) as fast as it can until the server goes away. */
async function writeUntilKilled(ids: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      if (ids.length > 0 && i % 3 === 2) {
        const id = ids[i % ids.length];
        await fetch(`${base()}/Observation/${id}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
          body: JSON.stringify({
            resourceType: 'Observation',
            id,
            status: 'amended',
            code: { coding: [{ code: 'bot-test' }] },
            valueInteger: i,
          }),
        });
      } else {
        const res = await post('Observation', {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ code: 'bot-test' }] },
          valueInteger: i,
        });
        const id = /Observation\/([^/]+)\//.exec(res.headers.get('location') ?? '')?.[1];
        if (id) ids.push(id);
      }
    } catch {
      return; // the server was killed
    }
  }
}

/** Every committed version of the test's Observations, from the database itself (`Type/id/version`). */
async function committedWrites(): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string; version_id: string }>(
    `SELECT id, version_id FROM resource_history WHERE resource_type = 'Observation' AND content LIKE '%bot-test%'`,
  );
  return new Set(rows.map((r) => `Observation/${r.id}/${r.version_id}`));
}

/** Distinct versions the receiver got (de-duplicated by resource and version, as the headers allow). */
function receivedWrites(): Set<string> {
  return new Set(receiver.received.map((r) => String(r.headers['x-tributary-resource']).replace('/_history/', '/')));
}

/** Distinct versions the recorder bot ran on (it records each as a Basic). */
async function botRuns(): Promise<Set<string>> {
  const { rows } = await db.query<{ content: string }>(
    `SELECT content FROM resource WHERE resource_type = 'Basic' AND NOT deleted`,
  );
  return new Set(rows.map((r) => JSON.parse(r.content).identifier?.[0]?.value as string));
}

async function allDelivered(expected: Set<string>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hook = receivedWrites();
    const bot = await botRuns();
    const missing = [...expected].filter((w) => !hook.has(w) || !bot.has(w));
    if (missing.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${missing.length} committed writes were not delivered, e.g. ${missing.slice(0, 3).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('subscription delivery across crashes', () => {
  it(`delivers every committed write to a rest-hook and a bot after each of ${KILLS} SIGKILLs`, async () => {
    ({ child } = await startServerProcess(databaseUrl, port, ENV));
    const sub = await post('Subscription', {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'crash test',
      criteria: 'Observation?code=bot-test',
      channel: { type: 'rest-hook', endpoint: receiver.url },
    });
    expect(sub.status).toBe(201);
    const ids: string[] = [];
    for (let kill = 1; kill <= KILLS; kill++) {
      const before = ids.length;
      const writing = writeUntilKilled(ids);
      // Kill at a different moment each time, but only once this round has written something.
      const deadline = Date.now() + 30_000;
      while (ids.length < before + 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, (kill * 137) % 400));
      child.kill('SIGKILL');
      await once(child, 'exit');
      await writing;
      ({ child } = await startServerProcess(databaseUrl, port, ENV));
      const committed = await committedWrites();
      await allDelivered(committed);
      console.log(
        `kill ${kill}: ${committed.size} committed writes, rest-hook received ${receiver.received.length} (${receivedWrites().size} distinct), bot ran on ${(await botRuns()).size} distinct`,
      );
    }
    const committed = await committedWrites();
    expect(receivedWrites()).toEqual(committed);
    expect(await botRuns()).toEqual(committed);
    expect(committed.size).toBeGreaterThanOrEqual(KILLS * 5);
    child.kill('SIGTERM');
    await once(child, 'exit');
  }, 600_000);
});
