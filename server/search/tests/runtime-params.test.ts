import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { searchCapabilities } from '../capabilities.ts';

/**
 * SearchParameters created at runtime index new writes at once; `$reindex` (system, type, instance) backfills existing
 * resources as a background job with progress that resumes where it stopped.
 */
let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const nickname = (n: string) => ({
  resourceType: 'Patient',
  name: [
    { family: 'Doe', given: ['John'] },
    { use: 'nickname', given: [n] },
  ],
});
const SP = {
  resourceType: 'SearchParameter',
  url: 'http://example.org/SearchParameter/patient-nickname',
  name: 'nickname',
  status: 'active',
  description: "A patient's nickname",
  code: 'nickname',
  base: ['Patient'],
  type: 'string',
  expression: "Patient.name.where(use='nickname').given",
};

async function ids(query: string, headers: Record<string, string> = {}) {
  const res = await fhir(server, 'GET', query, undefined, headers);
  return {
    status: res.status,
    ids: (res.body.entry ?? [])
      .filter((e: any) => e.search.mode === 'match')
      .map((e: any) => e.resource.id)
      .sort(),
  };
}

/** Polls a job's status URL (the async request pattern) until it answers something else than 202. */
async function waitFor(url: string): Promise<any> {
  for (let i = 0; i < 100; i++) {
    const res = await fhir(server, 'GET', url.slice(server.fhirBase.length + 1));
    if (res.status !== 202) return res;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('job did not finish');
}

describe('runtime SearchParameters and $reindex', () => {
  let before: string;
  let spId: string;

  it('is unknown before it exists', async () => {
    before = (await fhir(server, 'POST', 'Patient', nickname('bobby'))).body.id;
    expect((await ids('Patient?nickname=bob', { prefer: 'handling=strict' })).status).toBe(400);
  });

  it('indexes new writes at once', async () => {
    const created = await fhir(server, 'POST', 'SearchParameter', SP);
    expect(created.status).toBe(201);
    spId = created.body.id;
    const after = (await fhir(server, 'POST', 'Patient', nickname('bobby'))).body.id;
    expect(await ids('Patient?nickname=bob')).toEqual({ status: 200, ids: [after] });
    expect(searchCapabilities('Patient').searchParam.some((p) => p.name === 'nickname')).toBe(true);
  });

  it('backfills existing resources with a type-level $reindex job', async () => {
    const res = await fhir(server, 'POST', 'Patient/$reindex');
    expect(res.status).toBe(202);
    const location = res.headers.get('content-location') as string;
    expect(location).toContain('/$status/');
    const { status, body: done } = await waitFor(location);
    expect(status).toBe(200);
    const param = (n: string) => done.parameter.find((p: any) => p.name === n);
    expect(param('status').valueCode).toBe('completed');
    expect(param('processed').valueInteger).toBe(param('total').valueInteger);
    expect(param('progress').valueDecimal).toBe(100);
    expect((await ids('Patient?nickname=bob')).ids).toContain(before);
  });

  it('re-indexes one resource with an instance-level $reindex', async () => {
    await fhir(server, 'PUT', `SearchParameter/${spId}`, {
      ...SP,
      id: spId,
      code: 'nick',
      expression: "Patient.name.where(use='nickname').given",
    });
    expect((await ids(`Patient?nick=bob&_id=${before}`)).ids).toEqual([]);
    const res = await fhir(server, 'POST', `Patient/${before}/$reindex`);
    expect(res.status).toBe(200);
    expect((await ids(`Patient?nick=bob&_id=${before}`)).ids).toEqual([before]);
    expect((await ids('Patient?nickname=bob', { prefer: 'handling=strict' })).status).toBe(400);
  });

  it('resumes a job another node left half done', async () => {
    const { rows } = await server.pool.query('SELECT min(rid) AS lo, max(rid) AS hi, count(*) AS n FROM resource');
    const jobId = '00000000-0000-4000-8000-000000000001';
    // running, leased for another minute by a node whose database session is gone: taken over at once
    await server.pool.query(
      `INSERT INTO job (id, kind, input, state, attempts, max_attempts, lease_owner, lease_until, progress_done, progress_total, checkpoint)
       VALUES ($1, 'reindex', $2, 'running', 1, 5, '1@0', now() + interval '1 minute', 1, $3, $4)`,
      [jobId, { resourceType: null, lastRid: rows[0].hi }, rows[0].n, { nextRid: Number(rows[0].lo) + 1 }],
    );
    const { body: done } = await waitFor(`${server.fhirBase}/$status/${jobId}`);
    const param = (n: string) => done.parameter.find((p: any) => p.name === n);
    expect(param('status').valueCode).toBe('completed');
    expect(param('processed').valueInteger).toBe(Number(rows[0].n));
  }, 30_000);

  it('stops using a deleted SearchParameter', async () => {
    expect((await fhir(server, 'DELETE', `SearchParameter/${spId}`)).status).toBe(200);
    expect((await ids('Patient?nick=bob', { prefer: 'handling=strict' })).status).toBe(400);
    const lenient = await fhir(server, 'GET', 'Patient?nick=bob');
    expect(lenient.body.entry.at(-1).search.mode).toBe('outcome');
  });

  it('refuses $reindex to callers without system access and unknown jobs', async () => {
    expect((await fhir(server, 'GET', '$status/00000000-0000-4000-8000-00000000dead')).status).toBe(404);
    const res = await server.router
      .handle(
        { repo: server.repo, baseUrl: '', requestId: '', access: { kind: 'user' } },
        { method: 'POST', path: '$reindex', query: {}, headers: {} },
      )
      .catch((e) => e);
    expect(res.status).toBe(403);
  });
});
