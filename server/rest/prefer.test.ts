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

type Write = {
  name: string;
  run: (prefer?: string) => Promise<{ status: number; headers: Headers; body: any }>;
  status: number;
};

let counter = 0;
const headers = (prefer?: string, extra: Record<string, string> = {}) => ({ ...(prefer ? { prefer } : {}), ...extra });

/** Every kind of write, each run on fresh data so that its expected status holds. */
const writes: Write[] = [
  { name: 'create', status: 201, run: (p) => fhir(server, 'POST', 'Patient', { resourceType: 'Patient' }, headers(p)) },
  {
    name: 'conditional create (match)',
    status: 200,
    run: async (p) => {
      const value = `m${counter++}`;
      const body = { resourceType: 'Patient', identifier: [{ system: 'urn:prefer', value }] };
      await fhir(server, 'POST', 'Patient', body);
      return fhir(server, 'POST', 'Patient', body, headers(p, { 'if-none-exist': `identifier=urn:prefer|${value}` }));
    },
  },
  {
    name: 'update',
    status: 200,
    run: async (p) => {
      const id = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' })).body.id;
      return fhir(server, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, active: true }, headers(p));
    },
  },
  {
    name: 'update-as-create',
    status: 201,
    run: (p) => {
      const id = `prefer-${counter++}`;
      return fhir(server, 'PUT', `Patient/${id}`, { resourceType: 'Patient', id }, headers(p));
    },
  },
  {
    name: 'conditional update',
    status: 200,
    run: async (p) => {
      const value = `u${counter++}`;
      const body = { resourceType: 'Patient', identifier: [{ system: 'urn:prefer', value }] };
      await fhir(server, 'POST', 'Patient', body);
      return fhir(server, 'PUT', `Patient?identifier=urn:prefer|${value}`, { ...body, active: true }, headers(p));
    },
  },
  {
    name: 'patch',
    status: 200,
    run: async (p) => {
      const id = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' })).body.id;
      return fhir(
        server,
        'PATCH',
        `Patient/${id}`,
        [{ op: 'add', path: '/active', value: true }],
        headers(p, { 'content-type': 'application/json-patch+json' }),
      );
    },
  },
];

describe('Prefer, Location, Content-Location, ETag and Last-Modified on writes', () => {
  for (const write of writes) {
    it(`${write.name}: headers always; body per Prefer`, async () => {
      const representation = await write.run('return=representation');
      expect(representation.status).toBe(write.status);
      const { resourceType, id, meta } = representation.body;
      expect(resourceType).toBe('Patient');
      const versionUrl = `${server.fhirBase}/Patient/${id}/_history/${meta.versionId}`;
      expect(representation.headers.get('location')).toBe(versionUrl);
      expect(representation.headers.get('content-location')).toBe(versionUrl);
      expect(representation.headers.get('etag')).toBe(`W/"${meta.versionId}"`);
      expect(representation.headers.get('last-modified')).toBe(new Date(meta.lastUpdated).toUTCString());
      expect(representation.headers.get('content-type')).toContain('application/fhir+json');

      const byDefault = await write.run();
      expect(byDefault.status).toBe(write.status);
      expect(byDefault.body.resourceType).toBe('Patient');

      const minimal = await write.run('return=minimal');
      expect(minimal.status).toBe(write.status);
      expect(minimal.body).toBe('');
      expect(minimal.headers.get('location')).toMatch(new RegExp(`^${server.fhirBase}/Patient/[^/]+/_history/\\d+$`));
      expect(minimal.headers.get('etag')).toMatch(/^W\/"\d+"$/);

      const outcome = await write.run('return=OperationOutcome');
      expect(outcome.status).toBe(write.status);
      expect(outcome.body.resourceType).toBe('OperationOutcome');
      expect(outcome.body.issue[0].severity).toBe('information');
      expect(outcome.headers.get('location')).toMatch(new RegExp(`^${server.fhirBase}/Patient/`));
    });
  }

  it('delete answers 200 with an OperationOutcome', async () => {
    const id = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient' })).body.id;
    const res = await fhir(server, 'DELETE', `Patient/${id}`);
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('a failing write answers an OperationOutcome whatever Prefer says', async () => {
    const res = await fhir(
      server,
      'PUT',
      'Patient/mismatch',
      { resourceType: 'Patient', id: 'other' },
      { prefer: 'return=minimal' },
    );
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});
