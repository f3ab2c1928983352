import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { OutcomeError } from '../../fhir/outcomes.ts';
import { createTestDatabase, dropTestDatabase, fhir, startTestServer } from '../../../test/harness.ts';
import { until } from '../../../test/until.ts';
import { withSearchSession } from '../session.ts';
import { ResourceTableLock } from './db-lock.ts';

/**
 * A search whose client disconnects is cancelled in Postgres at once — its page query, its planner probes — long
 * before its (here two-minute) timeout, and sends nothing more; the pool then serves the next searches.
 */
let server: Tributary;
let databaseUrl: string;
let table: ResourceTableLock;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  server = await startTestServer({ databaseUrl }, { SEARCH_TIMEOUT_MS: '120000' });
  await fhir(server, 'PUT', 'Basic/c1', {
    resourceType: 'Basic',
    id: 'c1',
    code: { text: 'kept' },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">kept</div>' },
  });
  table = new ResourceTableLock(databaseUrl);
  await table.connect();
});
afterAll(async () => {
  await table?.end();
  await server?.close();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

/** Starts a search that waits on the lock, disconnects once its statement runs, and waits for the statement to end. */
async function disconnectDuring(path: string, statement: string): Promise<void> {
  await table.lock();
  try {
    const client = new AbortController();
    const request = fetch(`${server.fhirBase}/${path}`, { signal: client.signal }).catch((err: Error) => err);
    await until(
      async () => (await table.running(statement)).length === 1,
      20_000,
      `the search's ${statement} statement`,
    );
    client.abort();
    expect(await request).toBeInstanceOf(Error);
    await until(async () => (await table.running(statement)).length === 0, 20_000, 'the cancel');
  } finally {
    await table.unlock();
  }
}

describe('search cancelled when the client goes away', () => {
  it('cancels the running statement', async () => {
    await disconnectDuring('Basic?_text=kept', 'to_tsvector');
    const after = await fhir(server, 'GET', 'Basic?_text=kept');
    expect(after.status).toBe(200);
    expect(after.body.entry.map((e: any) => e.resource.id)).toEqual(['c1']);
  });

  it('cancels a planner probe (EXPLAIN) and sends no statement after it', async () => {
    await disconnectDuring('Patient?_has:Observation:subject:status=final', 'EXPLAIN');
    expect(await table.running('sp_reference')).toEqual([]);
    expect((await fhir(server, 'GET', 'Patient?_has:Observation:subject:status=final')).status).toBe(200);
  });

  it('sends no statement once stopped', async () => {
    const caller = new AbortController();
    let sent = 0;
    const err = await withSearchSession(server.repo, caller.signal, async (repo) => {
      await repo.query('SELECT 1', []);
      sent++;
      caller.abort();
      await repo.query('SELECT 2', []);
      sent++;
    }).catch((e) => e);
    expect(sent).toBe(1);
    expect(err).toBeInstanceOf(OutcomeError);
    expect((err as OutcomeError).status).toBe(499);
  });
});
