import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function countByIdentifier(system: string, value: string): Promise<string[]> {
  const r = await server.pool.query<{ id: string }>(
    `SELECT r.id FROM resource r JOIN sp_token t ON t.resource_type = r.resource_type AND t.id = r.id
     WHERE r.resource_type = 'Patient' AND NOT r.deleted AND t.code = 'identifier' AND t.system = $1 AND t.value = $2`,
    [system, value],
  );
  return r.rows.map((row) => row.id);
}

describe('concurrent writers', () => {
  it('concurrent If-Match updates of one version: exactly one 200, the rest 412', async () => {
    const id = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' })).body.id;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fhir(server, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: `Writer${i}` }] }, { 'if-match': 'W/"1"' }),
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
        fhir(server, 'POST', 'Patient', { resourceType: 'Patient', identifier: [{ system, value: 'one' }] }, {
          'if-none-exist': `identifier=${system}|one`,
        }),
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
    const createdStatuses = results.flatMap((r) => r.body.entry.filter((e: any) => e.resource?.resourceType === 'Patient').map((e: any) => e.response.status));
    expect(createdStatuses.filter((s: string) => s === '201 Created')).toHaveLength(2);
    // Every Observation points at the one patient with its code's identifier.
    const subjects = await server.pool.query<{ code: string; subject: string }>(
      `SELECT content::json->'code'->>'text' AS code, content::json->'subject'->>'reference' AS subject
       FROM resource WHERE resource_type = 'Observation' AND content::json->'code'->>'text' IN ('x', 'y')`,
    );
    expect(subjects.rows).toHaveLength(60);
    for (const row of subjects.rows) expect(row.subject).toBe(`Patient/${row.code === 'x' ? x[0] : y[0]}`);
  });
});
