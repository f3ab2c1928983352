import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { tableCounts } from '../../test/table-counts.ts';
import { conditionalKey } from '../search/conditional-query.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function countByIdentifier(system: string, value: string): Promise<string[]> {
  // Straight from the stored JSON, independent of how the search index is laid out.
  const r = await server.pool.query<{ id: string }>(
    `SELECT id FROM resource WHERE resource_type = 'Patient' AND NOT deleted AND content::jsonb @> $1::jsonb`,
    [JSON.stringify({ identifier: [{ system, value }] })],
  );
  return r.rows.map((row) => row.id);
}

describe('concurrent writers', () => {
  it('concurrent If-Match updates of one version: exactly one 200, the rest 412', async () => {
    const id = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' })).body.id;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fhir(
          server,
          'PUT',
          `Patient/${id}`,
          { resourceType: 'Patient', id, name: [{ family: `Writer${i}` }] },
          { 'if-match': 'W/"1"' },
        ),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(19);
    const winner = results.find((r) => r.status === 200)!;
    const current = await fhir(server, 'GET', `Patient/${id}`);
    expect(current.body.meta.versionId).toBe('2');
    expect(current.body.name).toEqual(winner.body.name);
    const history = await fhir(server, 'GET', `Patient/${id}/_history`);
    expect(history.body.entry).toHaveLength(2);
  });

  it('100 concurrent conditional creates with one identifier create exactly one resource; the others get it with 200', async () => {
    const system = 'urn:test:race';
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        fhir(
          server,
          'POST',
          'Patient',
          { resourceType: 'Patient', identifier: [{ system, value: 'one' }] },
          {
            'if-none-exist': `identifier=${system}|one`,
          },
        ),
      ),
    );
    const created = results.filter((r) => r.status === 201);
    const found = results.filter((r) => r.status === 200);
    expect(created).toHaveLength(1);
    expect(found).toHaveLength(99);
    const id = created[0].body.id;
    for (const r of found) expect(r.body.id).toBe(id);
    expect(await countByIdentifier(system, 'one')).toEqual([id]);
  });

  it('conditional creates inside concurrent transaction Bundles create one resource each, without deadlocks', async () => {
    const system = 'urn:test:tx-race';
    const bundle = (values: string[]) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: values.flatMap((value, i) => [
        {
          fullUrl: `urn:uuid:7a0b6a4e-0000-4000-8000-00000000000${i}`,
          resource: { resourceType: 'Patient', identifier: [{ system, value }] },
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${system}|${value}` },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: value },
            subject: { reference: `urn:uuid:7a0b6a4e-0000-4000-8000-00000000000${i}` },
          },
          request: { method: 'POST', url: 'Observation' },
        },
      ]),
    });
    // Half the bundles name the two patients in one order, half in the other.
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => fhir(server, 'POST', '', bundle(i % 2 === 0 ? ['x', 'y'] : ['y', 'x']))),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    const x = await countByIdentifier(system, 'x');
    const y = await countByIdentifier(system, 'y');
    expect(x).toHaveLength(1);
    expect(y).toHaveLength(1);
    const createdStatuses = results.flatMap((r) =>
      r.body.entry.filter((e: any) => e.resource?.resourceType === 'Patient').map((e: any) => e.response.status),
    );
    expect(createdStatuses.filter((s: string) => s === '201 Created')).toHaveLength(2);
    // Every Observation points at the one patient with its code's identifier.
    const subjects = await server.pool.query<{ code: string; subject: string }>(
      `SELECT content::json->'code'->>'text' AS code, content::json->'subject'->>'reference' AS subject
       FROM resource WHERE resource_type = 'Observation' AND content::json->'code'->>'text' IN ('x', 'y')`,
    );
    expect(subjects.rows).toHaveLength(60);
    for (const row of subjects.rows) expect(row.subject).toBe(`Patient/${row.code === 'x' ? x[0] : y[0]}`);
  });

  it('fails a transaction (409) whose conditional create would no longer land where its references were rewritten', async () => {
    const system = 'urn:test:moved';
    // A gate the transaction waits on after resolving its conditional create (criteria locks are taken in order).
    const gate = new pg.Client({
      connectionString: (server.pool as unknown as { options: { connectionString: string } }).options.connectionString,
    });
    await gate.connect();
    await gate.query('BEGIN');
    await gate.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      conditionalKey('Patient', { identifier: [`${system}|zz-gate`] }),
    ]);
    const before = await tableCounts(server.pool);
    const pending = fhir(server, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:5e1f0000-0000-4000-8000-000000000001',
          resource: { resourceType: 'Patient', identifier: [{ system, value: 'aa' }] },
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${system}|aa` },
        },
        {
          fullUrl: 'urn:uuid:5e1f0000-0000-4000-8000-000000000002',
          resource: { resourceType: 'Patient', identifier: [{ system, value: 'zz-gate' }] },
          request: { method: 'PUT', url: `Patient?identifier=${system}|zz-gate` },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'moved' },
            subject: { reference: 'urn:uuid:5e1f0000-0000-4000-8000-000000000001' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    let waiting = false;
    for (let i = 0; i < 500 && !waiting; i++) {
      const r = await gate.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      waiting = r.rows.length > 0;
      if (!waiting) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(waiting).toBe(true);
    // Meanwhile another client creates a matching patient without If-None-Exist.
    const other = await fhir(server, 'POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [{ system, value: 'aa' }],
    });
    expect(other.status).toBe(201);
    await gate.query('ROLLBACK');
    await gate.end();
    const res = await pending;
    expect(res.status).toBe(409);
    expect(res.body.issue[0].diagnostics).toContain(`Patient/${other.body.id}`);
    const after = await tableCounts(server.pool);
    expect(after.resource).toBe(before.resource + 1);
  });
});
