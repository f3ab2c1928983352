import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../../server/app.ts';
import { adminToken, startAuthServer } from '../../../test/auth-helpers.ts';
import { adtA01, segment } from './helpers.ts';

// POST /hl7/v2 and $convert with authorization on: only a token that may create MessageHeader (an interface
// engine's credential) sends HL7 v2; narrowed tokens are refused before anything is stored or mapped.
let server: Tributary;
let admin: string;

beforeAll(async () => {
  server = await startAuthServer();
  admin = await adminToken(server);
});
afterAll(async () => {
  await server?.close();
});

async function post(path: string, body: string, token?: string): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'x-application/hl7-v2+er7' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

/** Patients carrying the MRN, read with the admin's system-wide token. */
async function patientsWithMrn(mrn: string): Promise<number> {
  const res = await fetch(`${server.fhirBase}/Patient?identifier=${encodeURIComponent(mrn)}`, {
    headers: { authorization: `Bearer ${admin}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { entry?: unknown[] }).entry?.length ?? 0;
}

describe('HL7 v2 over HTTP with confined tokens', () => {
  it('refuses a request without a token (401) and stores nothing', async () => {
    const res = await post('/hl7/v2', adtA01('ACC-0', 'MRN-ACC-0'));
    expect(res.status).toBe(401);
    expect(await patientsWithMrn('MRN-ACC-0')).toBe(0);
  });

  it.each([
    ['read-only system scopes', 'system/Observation.rs system/Patient.rs'],
    ['a read of MessageHeader', 'system/MessageHeader.rs'],
    ['create of Patient without MessageHeader', 'system/Patient.c system/Encounter.c'],
  ])('refuses %s with 403 on both endpoints, and stores nothing', async (_name, scope) => {
    const token = await adminToken(server, scope);
    const mrn = `MRN-ACC-${scope.length}`;
    for (const path of ['/hl7/v2', '/hl7/v2/$convert']) {
      const res = await post(path, adtA01(`ACC-${scope.length}`, mrn), token);
      expect(res.status).toBe(403);
      expect(JSON.parse(res.text).resourceType).toBe('OperationOutcome');
    }
    expect(await patientsWithMrn(mrn)).toBe(0);
  });

  it('accepts an interface credential that may create MessageHeader, and the message is mapped', async () => {
    const token = await adminToken(server, 'system/MessageHeader.c');
    const res = await post('/hl7/v2', adtA01('ACC-OK', 'MRN-ACC-OK'), token);
    expect(res.status).toBe(200);
    expect(segment(res.text, 'MSA')?.[1]).toBe('AA');
    let found = 0;
    for (let i = 0; i < 100 && found === 0; i++) {
      found = await patientsWithMrn('MRN-ACC-OK');
      if (!found) await new Promise((r) => setTimeout(r, 100));
    }
    expect(found).toBe(1);
  });

  it('answers malformed input from an allowed sender with an OperationOutcome or a NAK, never a 500', async () => {
    const token = await adminToken(server, 'system/MessageHeader.c');
    for (const body of ['', 'not hl7 at all', 'MSH|^~\\&|\u0000|', 'MSH|' + 'A|'.repeat(5000)]) {
      for (const path of ['/hl7/v2', '/hl7/v2/$convert']) {
        const res = await post(path, body, token);
        expect(res.status, `${path} ${JSON.stringify(body.slice(0, 20))}`).toBeLessThan(500);
      }
    }
  });
});
