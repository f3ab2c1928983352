import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { OutcomeError } from '../../fhir/outcomes.ts';
import { PostgresRepository } from '../../store/repository.ts';
import { createTestDatabase, dropTestDatabase, fhir, startTestServer } from '../../../test/harness.ts';
import { withSearchSession } from '../session.ts';
import { ResourceTableLock } from './db-lock.ts';

/**
 * SEARCH_TIMEOUT_MS: a search that runs too long is stopped in Postgres and answers 503 `timeout`, on its own
 * connection and inside a transaction Bundle; nothing of it keeps running. With the chain limits turned off, the
 * SQL of a 4-link chain through Reference(Any) is refused (400) where it used to overflow the driver (500).
 */
const TIMEOUT_MS = 500;
let server: Tributary;
let databaseUrl: string;
let table: ResourceTableLock;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  server = await startTestServer(
    { databaseUrl },
    {
      SEARCH_TIMEOUT_MS: String(TIMEOUT_MS),
      SEARCH_MAX_CHAIN_DEPTH: '0',
      SEARCH_MAX_CHAIN_TARGETS: '0',
    },
  );
  await fhir(server, 'PUT', 'Basic/t1', { resourceType: 'Basic', id: 't1', code: { text: 'timed' } });
  table = new ResourceTableLock(databaseUrl);
  await table.connect();
});
afterAll(async () => {
  await table?.end();
  await server?.close();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

async function whileLocked<T>(fn: () => Promise<T>): Promise<T> {
  await table.lock();
  try {
    return await fn();
  } finally {
    await table.unlock();
  }
}

describe('search timeout', () => {
  it('answers 503 timeout and leaves no statement running', async () => {
    const res = await whileLocked(async () => {
      const res = await fhir(server, 'GET', 'Basic?_text=anything');
      expect(await table.running('to_tsvector')).toEqual([]);
      return res;
    });
    expect(res.status).toBe(503);
    expect(res.body.issue[0].code).toBe('timeout');
    expect(res.body.issue[0].diagnostics).toContain('SEARCH_TIMEOUT_MS');
    expect((await fhir(server, 'GET', 'Basic?_text=timed')).status).toBe(200);
  });

  it('stops planner probes too', async () => {
    const res = await whileLocked(async () => fhir(server, 'GET', 'Patient?_has:Observation:subject:status=final'));
    expect(res.status).toBe(503);
    expect(await table.running('EXPLAIN')).toEqual([]);
  });

  it('is enforced by Postgres itself (statement_timeout), without the server cancelling', async () => {
    // A pool of its own has no canceller registered: only Postgres can end the statement.
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    try {
      const repo = new PostgresRepository(pool, () => undefined);
      const started = Date.now();
      const err = await whileLocked(async () =>
        withSearchSession(repo, undefined, (session) => session.query('SELECT count(*) FROM resource', [])).catch(
          (e) => e,
        ),
      );
      expect(err).toBeInstanceOf(OutcomeError);
      expect((err as OutcomeError).status).toBe(503);
      expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS);
      // The connection went back to the pool with its own setting.
      const { rows } = await pool.query("SELECT current_setting('statement_timeout') AS t");
      expect(rows[0].t).toBe('0');
    } finally {
      await pool.end();
    }
  });

  it("runs searches on connections that carry the timeout as Postgres's statement_timeout", async () => {
    const setting = await withSearchSession(
      server.repo,
      undefined,
      async (session) =>
        (await session.query<{ t: string }>("SELECT current_setting('statement_timeout') AS t", [])).rows[0].t,
    );
    expect(setting).toBe(`${TIMEOUT_MS}ms`);
    const { rows } = await server.pool.query("SELECT current_setting('statement_timeout') AS t");
    expect(rows[0].t).toBe('0');
  });

  it('applies to the GET entries of a transaction Bundle', async () => {
    const res = await whileLocked(async () =>
      fhir(server, 'POST', '', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ request: { method: 'GET', url: 'Basic?_text=x' } }],
      }),
    );
    expect(res.status).toBe(503);
    expect(res.body.issue[0].code).toBe('timeout');
  });

  it('refuses SQL with more bind parameters than Postgres takes (400, was a 500)', async () => {
    const res = await fhir(server, 'GET', 'Library?derived-from.derived-from.derived-from.derived-from.url=x');
    expect(res.status).toBe(400);
    expect(res.body.issue[0].code).toBe('too-costly');
  });
});
