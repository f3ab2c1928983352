import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { freePort } from '../../../test/global-setup.ts';
import { createTestDatabase, dropTestDatabase, fhir, startTestServer } from '../../../test/harness.ts';
import { startServerProcess } from '../../../test/server-process.ts';

/**
 * Runtime SearchParameters across nodes: what the node that wrote a SearchParameter knows at once, another node (its
 * own process, on the same database) learns by LISTEN/NOTIFY, for its writes and its searches, and forgets when the
 * SearchParameter is deleted.
 */
let databaseUrl: string;
let first: Tributary;
let second: ChildProcess;
let secondBase: string;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  first = await startTestServer({ databaseUrl });
  const port = await freePort();
  second = (await startServerProcess(databaseUrl, port)).child;
  secondBase = `http://127.0.0.1:${port}/fhir`;
}, 60_000);
afterAll(async () => {
  if (second && second.exitCode === null) {
    const exited = new Promise((resolve) => second.once('exit', resolve));
    second.kill('SIGTERM');
    await exited;
  }
  await first?.close();
  await dropTestDatabase(databaseUrl);
});

const SP = {
  resourceType: 'SearchParameter',
  url: 'http://example.org/SearchParameter/patient-pet',
  name: 'pet',
  status: 'active',
  description: "A patient's pet's name (an extension)",
  code: 'pet',
  base: ['Patient'],
  type: 'string',
  expression: "Patient.extension.where(url='http://example.org/pet').value",
};
const withPet = (pet: string) => ({
  resourceType: 'Patient',
  extension: [{ url: 'http://example.org/pet', valueString: pet }],
});

async function onSecond(method: string, path: string, body?: unknown) {
  const res = await fetch(`${secondBase}/${path}`, {
    method,
    headers: { 'content-type': 'application/fhir+json', prefer: 'handling=strict' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** Polls until `check` holds (the other node learns by NOTIFY, shortly after the commit). */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the other node did not catch up');
}

describe('runtime SearchParameters on two nodes', () => {
  it('a SearchParameter written on one node indexes writes and answers searches on the other', async () => {
    expect((await onSecond('GET', 'Patient?pet=rex')).status).toBe(400);
    expect((await fhir(first, 'POST', 'SearchParameter', SP)).status).toBe(201);
    await eventually(async () => (await onSecond('GET', 'Patient?pet=rex')).status === 200);
    const rex = await onSecond('POST', 'Patient', withPet('Rex'));
    expect(rex.status).toBe(201);
    const found = await onSecond('GET', 'Patient?pet=rex');
    expect(found.body.entry.map((e: any) => e.resource.id)).toEqual([rex.body.id]);
    // and the first node finds what the second indexed
    const onFirst = await fhir(first, 'GET', 'Patient?pet=rex');
    expect(onFirst.body.entry.map((e: any) => e.resource.id)).toEqual([rex.body.id]);
  });

  it('a SearchParameter deleted on one node is no longer used by the other', async () => {
    const stored = await fhir(first, 'GET', 'SearchParameter?url=http://example.org/SearchParameter/patient-pet');
    const id = stored.body.entry[0].resource.id;
    expect((await fhir(first, 'DELETE', `SearchParameter/${id}`)).status).toBe(200);
    await eventually(async () => (await onSecond('GET', 'Patient?pet=rex')).status === 400);
  });
});
