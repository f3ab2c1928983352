import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/global-setup.ts';
import { createTestDatabase, dropTestDatabase } from '../../../test/harness.ts';
import { startServerProcess } from '../../../test/server-process.ts';
import { tableCounts } from '../../../test/table-counts.ts';
import { conditionalKey } from '../../search/conditional-query.ts';

const GATE = { identifier: ['urn:test:crash|gate'] };

let databaseUrl: string;
let port: number;
let db: pg.Client;
const children: ChildProcess[] = [];

async function startServer(): Promise<ChildProcess> {
  const { child } = await startServerProcess(databaseUrl, port);
  children.push(child);
  return child;
}

async function post(path: string, body: unknown): Promise<{ status: number; location: string | null; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}/fhir/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, location: res.headers.get('location'), body: text ? JSON.parse(text) : undefined };
}

async function get(path: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/fhir/${path}`)).status;
}

/** Backends of the test database other than our own connection. */
async function serverBackends(): Promise<{ pid: number; wait: string | null; xid: string | null }[]> {
  const r = await db.query(
    `SELECT pid, wait_event_type AS wait, backend_xid::text AS xid FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid()`,
  );
  return r.rows;
}

beforeAll(async () => {
  databaseUrl = await createTestDatabase('crash');
  port = await freePort();
  db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await db?.end();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

describe('crash safety', () => {
  it('a server SIGKILLed in the middle of a large transaction leaves nothing of it; earlier writes survive', async () => {
    let server = await startServer();
    const patient = await post('Patient', { resourceType: 'Patient', name: [{ family: 'Before' }] });
    expect(patient.status).toBe(201);
    const patientId = /Patient\/([^/]+)\/_history/.exec(patient.location ?? '')?.[1];
    expect(patientId).toBeTruthy();
    const earlier = await post('', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Device', lotNumber: 'earlier' }, request: { method: 'POST', url: 'Device' } },
      ],
    });
    expect(earlier.status).toBe(200);
    const deviceLocation = earlier.body.entry[0].response.location.replace(/\/_history\/1$/, '');
    const before = await tableCounts(db);

    // Hold the conditional-update lock the transaction will need after it has written all of its creates.
    const gate = new pg.Client({ connectionString: databaseUrl });
    await gate.connect();
    await gate.query('BEGIN');
    await gate.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [conditionalKey('Patient', GATE)]);

    const entries: unknown[] = [{ request: { method: 'DELETE', url: `Patient/${patientId}` } }];
    for (let i = 0; i < 600; i++) {
      const urn = `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      entries.push({
        fullUrl: urn,
        resource: { resourceType: 'Patient', name: [{ family: `Crash${i}` }] },
        request: { method: 'POST', url: 'Patient' },
      });
      entries.push({
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'crash-marker' },
          subject: { reference: urn },
        },
        request: { method: 'POST', url: 'Observation' },
      });
    }
    entries.push({
      resource: { resourceType: 'Patient', identifier: [{ system: 'urn:test:crash', value: 'gate' }] },
      request: { method: 'PUT', url: 'Patient?identifier=urn:test:crash|gate' },
    });
    const inFlight = post('', { resourceType: 'Bundle', type: 'transaction', entry: entries }).catch((err) => err);

    // Wait until the transaction has written (it has a transaction id) and is blocked on the gate.
    const deadline = Date.now() + 60_000;
    let blocked = false;
    while (!blocked && Date.now() < deadline) {
      blocked = (await serverBackends()).some((b) => b.wait === 'Lock' && b.xid !== null);
      if (!blocked) await new Promise((r) => setTimeout(r, 20));
    }
    expect(blocked).toBe(true);
    server.kill('SIGKILL');
    await once(server, 'exit');
    expect(await inFlight).toBeInstanceOf(Error);

    // Let the orphaned backend run into its dead client, then wait until Postgres has ended it.
    await gate.query('ROLLBACK');
    await gate.end();
    const gone = Date.now() + 30_000;
    while ((await serverBackends()).length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    expect(await serverBackends()).toEqual([]);

    server = await startServer();
    expect(await tableCounts(db)).toEqual(before);
    const markers = await db.query(`SELECT count(*) AS n FROM resource_history WHERE content LIKE '%crash-marker%'`);
    expect(markers.rows[0].n).toBe(0);
    expect(await get(`Patient/${patientId}`)).toBe(200);
    expect(await get(deviceLocation)).toBe(200);
    server.kill('SIGTERM');
    await once(server, 'exit');
  }, 180_000);
});
