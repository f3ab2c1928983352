import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { badRequest } from '../../fhir/outcomes.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { until } from '../../../test/until.ts';

/**
 * The FHIR asynchronous request pattern over HTTP, with `$reindex`: 202 + Content-Location, polling the status URL
 * (202 + X-Progress while running, 200 with the result, an OperationOutcome on failure), DELETE to cancel.
 */
let server: Tributary;
let locker: pg.Client;
beforeAll(async () => {
  server = await startTestServer();
  locker = new pg.Client({ connectionString: server.pool.options.connectionString });
  await locker.connect();
  for (let i = 0; i < 3; i++)
    await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: `Async${i}` }] });
  server.jobs.register('test.refuse', {
    run: async () => {
      throw badRequest('this job cannot be done');
    },
  });
});
afterAll(async () => {
  await locker?.end();
  await server?.close();
});

const statusPathOf = (location: string) => location.slice(server.fhirBase.length + 1);

/** Holds a row lock on a Patient, so a reindex job waits in its first batch (running, 0 done) until released. */
async function holdPatient(): Promise<() => Promise<void>> {
  await locker.query('BEGIN');
  await locker.query(`SELECT 1 FROM resource WHERE resource_type = 'Patient' ORDER BY rid LIMIT 1 FOR UPDATE`);
  return async () => void (await locker.query('COMMIT'));
}

async function kickOff(): Promise<string> {
  const res = await fhir(server, 'POST', 'Patient/$reindex', undefined, { prefer: 'respond-async' });
  expect(res.status).toBe(202);
  expect(res.body.resourceType).toBe('OperationOutcome');
  const location = res.headers.get('content-location') as string;
  expect(location).toMatch(new RegExp(`^${server.fhirBase.replace(/[$.]/g, '\\$&')}/\\$status/[0-9a-f-]{36}$`));
  return statusPathOf(location);
}

describe('async request pattern with $reindex', () => {
  it('answers 202 with X-Progress while the job runs, then 200 with its result', async () => {
    const release = await holdPatient();
    const status = await kickOff();
    const running = await until(
      async () => {
        const res = await fhir(server, 'GET', status);
        return res.headers.get('x-progress')?.startsWith('running') && res;
      },
      20_000,
      'the job to run',
    );
    expect(running.status).toBe(202);
    expect(running.headers.get('x-progress')).toBe('running: 0 of 3 (0%)');
    expect(running.body.issue[0].severity).toBe('information');
    await release();
    const done = await until(
      async () => {
        const res = await fhir(server, 'GET', status);
        return res.status !== 202 && res;
      },
      20_000,
      'the job to finish',
    );
    expect(done.status).toBe(200);
    const param = (n: string) => done.body.parameter.find((p: any) => p.name === n);
    expect(param('processed').valueInteger).toBe(3);
    expect(param('total').valueInteger).toBe(3);
    expect(param('type').valueCode).toBe('Patient');
  });

  it('cancels a running job with DELETE: the status URL answers 404 and its batch is rolled back', async () => {
    const release = await holdPatient();
    const status = await kickOff();
    await until(
      async () => (await fhir(server, 'GET', status)).headers.get('x-progress')?.startsWith('running'),
      20_000,
      'the job to run',
    );
    const cancelled = await fhir(server, 'DELETE', status);
    expect(cancelled.status).toBe(202);
    expect((await fhir(server, 'GET', status)).status).toBe(404);
    await release(); // the batch that waited on the lock now finds its job cancelled and rolls back
    const id = status.split('/')[1];
    await new Promise((r) => setTimeout(r, 500));
    const job = await server.jobs.get(id);
    expect(job?.state).toBe('cancelled');
    expect(job?.progress.done).toBe(0);
  });

  it('queues an instance $reindex under Prefer: respond-async and runs it synchronously without', async () => {
    const { rows } = await server.pool.query(`SELECT id FROM resource WHERE resource_type = 'Patient' LIMIT 1`);
    const sync = await fhir(server, 'POST', `Patient/${rows[0].id}/$reindex`);
    expect(sync.status).toBe(200);
    const res = await fhir(server, 'POST', `Patient/${rows[0].id}/$reindex`, undefined, { prefer: 'respond-async' });
    expect(res.status).toBe(202);
    const done = await until(
      async () => {
        const r = await fhir(server, 'GET', statusPathOf(res.headers.get('content-location') as string));
        return r.status === 200 && r;
      },
      20_000,
      'the job to finish',
    );
    expect(done.body.parameter.find((p: any) => p.name === 'processed').valueInteger).toBe(1);
  });

  it('answers the OperationOutcome and status of a failed job, and forgets a finished job on DELETE', async () => {
    const job = await server.jobs.enqueue('test.refuse', {});
    const failed = await until(
      async () => {
        const r = await fhir(server, 'GET', `$status/${job.id}`);
        return r.status !== 202 && r;
      },
      20_000,
      'the job to fail',
    );
    expect(failed.status).toBe(400);
    expect(failed.body.issue[0].diagnostics).toBe('this job cannot be done');
    expect((await fhir(server, 'DELETE', `$status/${job.id}`)).status).toBe(202);
    expect((await fhir(server, 'GET', `$status/${job.id}`)).status).toBe(404);
    expect(await server.jobs.get(job.id)).toBeUndefined();
  });

  it('shows a job only to the client that started it', async () => {
    const job = await server.jobs.enqueue('test.refuse', {}, { requester: 'client-a' });
    const ask = (clientId: string) =>
      server.router
        .handle(
          { repo: server.repo, baseUrl: server.fhirBase, requestId: '', access: { kind: 'system', clientId } },
          { method: 'GET', path: `$status/${job.id}`, query: {}, headers: {} },
        )
        .then(
          (r) => r.status,
          (e) => e.status,
        );
    await until(async () => (await server.jobs.get(job.id))?.state === 'failed', 20_000, 'the job to fail');
    expect(await ask('client-a')).toBe(400);
    expect(await ask('client-b')).toBe(404);
    expect((await fhir(server, 'GET', '$status/not-a-job')).status).toBe(404);
  });
});
