import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/global-setup.ts';
import { createTestDatabase, dropTestDatabase } from '../../../test/harness.ts';
import { startReceiver, type Receiver } from '../../../test/receiver.ts';
import { startServerProcess } from '../../../test/server-process.ts';

const ENV = { SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1' };
const WRITES = 200;
let databaseUrl: string;
let receiver: Receiver;
const children: ChildProcess[] = [];

beforeAll(async () => {
  databaseUrl = await createTestDatabase('subcluster');
  // A slow receiver, so that deliveries overlap and both nodes claim work at the same time.
  receiver = await startReceiver((_req, res) => void setTimeout(() => res.end(), 5));
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await receiver?.close();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

describe('two server processes on one Postgres', () => {
  it('deliver each event exactly once between them', async () => {
    const ports = [await freePort(), await freePort()];
    for (const port of ports) children.push((await startServerProcess(databaseUrl, port, ENV)).child);
    const url = (i: number, path: string) => `http://127.0.0.1:${ports[i % 2]}/fhir/${path}`;
    const post = (i: number, path: string, body: unknown) =>
      fetch(url(i, path), {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
        body: JSON.stringify(body),
      });
    const sub = await post(0, 'Subscription', {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'cluster test',
      criteria: 'Observation?code=cluster',
      channel: { type: 'rest-hook', endpoint: receiver.url },
    });
    expect(sub.status).toBe(201);
    // Writes alternate between the two nodes, eight at a time.
    for (let i = 0; i < WRITES; i += 8) {
      const batch = Array.from({ length: Math.min(8, WRITES - i) }, (_, k) =>
        post(i + k, 'Observation', {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ code: 'cluster' }] },
          valueInteger: i + k,
        }),
      );
      for (const res of await Promise.all(batch)) expect(res.status).toBe(201);
    }
    await receiver.waitFor(WRITES, 60_000);
    await new Promise((r) => setTimeout(r, 1000)); // a double delivery would arrive now
    const counts = new Map<string, number>();
    for (const r of receiver.received)
      counts.set(
        String(r.headers['x-tributary-resource']),
        (counts.get(String(r.headers['x-tributary-resource'])) ?? 0) + 1,
      );
    const twice = [...counts].filter(([, n]) => n > 1);
    console.log(
      `two nodes: ${WRITES} writes, ${receiver.received.length} notifications, ${counts.size} distinct, ${twice.length} delivered twice`,
    );
    expect(counts.size).toBe(WRITES);
    expect(twice).toEqual([]);
    for (const c of children) {
      c.kill('SIGTERM');
      await once(c, 'exit');
    }
  }, 180_000);
});
