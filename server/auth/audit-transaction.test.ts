import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir } from '../../test/harness.ts';
import { checkWrite } from '../validation/validator.ts';
import { adminToken, startAuthServer } from '../../test/auth-helpers.ts';

/*
 * The audit of Bundles (issue 13 item 15): a transaction that rolls back leaves one failure AuditEvent naming the
 * entry that failed it and no success event for the writes it did not make; a committed transaction leaves one event
 * per entry plus its own; a batch keeps the events of its entries.
 */
let server: Tributary;
let admin: string;

beforeAll(async () => {
  server = await startAuthServer({ AUDIT: 'on' });
  admin = await adminToken(server);
});
afterAll(async () => {
  await server?.close();
});

/** Posts a Bundle under its own request id; returns the answer and the AuditEvents recorded for that request. */
async function postBundle(
  token: string,
  type: 'transaction' | 'batch',
  entry: unknown[],
): Promise<{ status: number; body: any; events: any[] }> {
  const requestId = randomUUID();
  const res = await fhir(
    server,
    'POST',
    '',
    { resourceType: 'Bundle', type, entry },
    { authorization: `Bearer ${token}`, 'x-request-id': requestId },
  );
  await server.auth.audit!.flush();
  const rows = await server.pool.query<{ content: string }>(
    "SELECT content FROM resource WHERE resource_type = 'AuditEvent'",
  );
  const events = rows.rows
    .map((r) => JSON.parse(r.content))
    .filter((e) =>
      e.entity?.some(
        (x: any) => x.what?.identifier?.system === 'urn:tributary:request-id' && x.what.identifier.value === requestId,
      ),
    );
  for (const e of events) expect(() => checkWrite(e)).not.toThrow();
  return { ...res, events };
}

const createPatient = (family: string, extra: object = {}) => ({
  resource: { resourceType: 'Patient', name: [{ family }], ...extra },
  request: { method: 'POST', url: 'Patient' },
});

/** The OperationOutcome an AuditEvent carries in its entity detail. */
function outcomeOf(event: any): any {
  const entity = event.entity.find((x: any) => x.type?.code === 'OperationOutcome');
  return JSON.parse(entity.detail[0].valueString);
}

describe('AuditEvents of a transaction', () => {
  it('that rolls back: one failure event naming the failing entry, none for the writes that did not happen', async () => {
    const family = `rolled-back-${randomUUID()}`;
    const entries = Array.from({ length: 300 }, () => createPatient(family));
    entries.push(createPatient(family, { birthDate: 'not a date' }));
    const res = await postBundle(admin, 'transaction', entries);
    expect(res.status).toBe(400);
    const stored = await fhir(server, 'GET', `Patient?family=${family}&_total=accurate`, undefined, {
      authorization: `Bearer ${admin}`,
    });
    expect(stored.body.total).toBe(0);

    expect(res.events).toHaveLength(1);
    const [event] = res.events;
    expect(event).toMatchObject({ subtype: [{ code: 'transaction' }], action: 'E', outcome: '4' });
    expect(event.outcomeDesc).toMatch(/^Bundle\.entry\[300\] \(POST Patient\): /);
    const outcome = outcomeOf(event);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].expression[0]).toBe('Bundle.entry[300]');
    expect(outcome).toEqual(res.body);
  });

  it('refused by the guard in one entry: one failure event with the 403, nothing for the entries before it', async () => {
    const narrow = await adminToken(server, 'system/Patient.cruds');
    const observation = {
      resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
      request: { method: 'POST', url: 'Observation' },
    };
    const res = await postBundle(narrow, 'transaction', [createPatient('refused'), observation]);
    expect(res.status).toBe(403);
    expect(res.events).toHaveLength(1);
    expect(res.events[0]).toMatchObject({ subtype: [{ code: 'transaction' }], outcome: '4' });
    expect(outcomeOf(res.events[0]).issue[0]).toMatchObject({ code: 'forbidden', expression: ['Bundle.entry[1]'] });
  });

  it('that commits: one success event per entry, after the commit, and one for the transaction', async () => {
    const res = await postBundle(admin, 'transaction', [
      createPatient('kept'),
      createPatient('kept'),
      createPatient('kept'),
    ]);
    expect(res.status).toBe(200);
    const creates = res.events.filter((e) => e.subtype[0].code === 'create');
    expect(creates).toHaveLength(3);
    for (const e of creates) expect(e).toMatchObject({ action: 'C', outcome: '0' });
    expect(res.events.filter((e) => e.subtype[0].code === 'transaction')).toEqual([
      expect.objectContaining({ action: 'E', outcome: '0' }),
    ]);
    expect(res.events).toHaveLength(4);
  });
});

describe('AuditEvents of a batch', () => {
  it('keep the events of its entries, whatever the others did', async () => {
    const res = await postBundle(admin, 'batch', [
      createPatient('batch'),
      createPatient('batch', { birthDate: 'not a date' }),
      createPatient('batch'),
    ]);
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: any) => e.response.status)).toEqual([
      '201 Created',
      '400 Bad Request',
      '201 Created',
    ]);
    expect(res.events.filter((e) => e.subtype[0].code === 'create' && e.outcome === '0')).toHaveLength(2);
    expect(res.events.filter((e) => e.subtype[0].code === 'batch')).toEqual([
      expect.objectContaining({ action: 'E', outcome: '0' }),
    ]);
  });
});
