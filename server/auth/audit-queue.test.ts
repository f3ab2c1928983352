import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { adminToken, startAuthServer } from '../../test/auth-helpers.ts';

/**
 * The audit trail's queue (issue 15): requests record their events in `audit_queue` cheaply, a background indexer
 * makes them AuditEvent resources, and whoever reads AuditEvents sees every event recorded before the read.
 */
let server: Tributary;
let admin: string;

beforeAll(async () => {
  server = await startAuthServer({ AUDIT: 'on', API_RATE_LIMIT: '0', AUTH_RATE_LIMIT: '0' });
  admin = await adminToken(server);
});
afterAll(async () => {
  await server?.close();
});

const queued = async () =>
  Number((await server.pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_queue')).rows[0].n);

describe('audit queue', () => {
  it('a search of AuditEvents right after an access finds it, without waiting for the indexer', async () => {
    const auth = { authorization: `Bearer ${admin}` };
    const patient = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' }, auth)).body.id;
    const confined = await adminToken(server, 'system/Patient.rs system/Observation.rs');
    expect(
      (await fhir(server, 'GET', `Patient/${patient}`, undefined, { authorization: `Bearer ${confined}` })).status,
    ).toBe(200);
    // a token that may not read AuditEvents is refused before anything is indexed for it
    const refused = await fhir(server, 'GET', `AuditEvent?entity=Patient/${patient}`, undefined, {
      authorization: `Bearer ${confined}`,
    });
    expect(refused.status).toBe(403);
    const found = await fhir(server, 'GET', `AuditEvent?entity=Patient/${patient}&subtype=read`, undefined, auth);
    expect(found.status).toBe(200);
    expect(found.body.entry).toHaveLength(1);
    const event = found.body.entry[0].resource;
    expect(event.agent[0].who.identifier.value).toBeTruthy();
    // and it is an ordinary resource: read by id, one version
    const read = await fhir(server, 'GET', `AuditEvent/${event.id}`, undefined, auth);
    expect(read.status).toBe(200);
    expect(read.body.meta.versionId).toBe('1');
  });

  it('indexes each queued row exactly once, whoever takes it (two indexers at once, e.g. two nodes)', async () => {
    const audit = server.auth.audit!;
    await audit.flush();
    const ids = Array.from({ length: 1200 }, () => randomUUID());
    const marker = `queue-test-${randomUUID()}`;
    const content = JSON.stringify([
      new Date().toISOString(),
      { kind: 'rest', subtype: 'read', action: 'R', success: true, clientId: marker, what: 'Patient/1' },
    ]);
    await server.pool.query('INSERT INTO audit_queue (id, content) SELECT unnest($1::text[]), $2', [ids, content]);
    expect(await queued()).toBe(ids.length);
    await Promise.all([audit.indexer.indexAll(), audit.indexer.indexAll(), audit.flush()]);
    expect(await queued()).toBe(0);
    const stored = await server.pool.query<{ id: string; n: string }>(
      "SELECT id, count(*) AS n FROM resource_history WHERE resource_type = 'AuditEvent' AND id = ANY($1) GROUP BY id",
      [ids],
    );
    expect(stored.rows).toHaveLength(ids.length);
    expect(new Set(stored.rows.map((r) => String(r.n)))).toEqual(new Set(['1']));
    const search = await fhir(server, 'GET', `AuditEvent?agent:identifier=${marker}&_summary=count`, undefined, {
      authorization: `Bearer ${admin}`,
    });
    expect(search.body.total).toBe(ids.length);
  });

  it('an unreadable queued row is logged and dropped, and does not hold up the others', async () => {
    const audit = server.auth.audit!;
    await audit.flush();
    const bad = randomUUID();
    const good = randomUUID();
    const content = JSON.stringify([
      new Date().toISOString(),
      { kind: 'rest', subtype: 'read', action: 'R', success: true, clientId: 'after-bad-row' },
    ]);
    await server.pool.query("INSERT INTO audit_queue (id, content) VALUES ($1, 'not json'), ($2, $3)", [
      bad,
      good,
      content,
    ]);
    await audit.flush();
    expect(await queued()).toBe(0);
    const stored = await server.pool.query<{ id: string }>(
      "SELECT id FROM resource WHERE resource_type = 'AuditEvent' AND id = ANY($1)",
      [[bad, good]],
    );
    expect(stored.rows.map((r) => r.id)).toEqual([good]);
  });
});
