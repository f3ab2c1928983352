import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabase } from '../../../test/harness.ts';
import { until } from '../../../test/until.ts';
import { migrate } from '../../db/migrate.ts';
import { createPool } from '../../db/pool.ts';
import { JobRunner } from '../runner.ts';
import { findJob, insertJob } from '../store.ts';
import type { Job } from '../types.ts';
import { registerTestKinds, TEST_RUN_TABLE } from './test-kinds.ts';

/**
 * The job runner across nodes and failures: runner nodes as OS processes of their own (runner-node.ts) and in this
 * process, all on one Postgres. Every run of a test job records its start, steps and finish in `job_test_run`.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let databaseUrl: string;
let pool: pg.Pool;
const children: ChildProcess[] = [];
const runners: { runner: JobRunner; pool: pg.Pool }[] = [];

beforeAll(async () => {
  databaseUrl = await createTestDatabase('jobs');
  await migrate(databaseUrl);
  pool = createPool(databaseUrl, 4);
  await pool.query(TEST_RUN_TABLE);
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of runners.splice(0)) {
    await r.runner.stop();
    await r.pool.end();
  }
});
afterAll(async () => {
  await pool?.end();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

/** Starts a runner node as its own process and waits until its loop runs. */
async function startNodeProcess(name: string): Promise<ChildProcess> {
  const { BASE_URL: _vite, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/jobs/tests/runner-node.ts'], {
    cwd: ROOT,
    env: { ...env, DATABASE_URL: databaseUrl, NODE_NAME: name },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`runner node ${name} exited (${code}): ${stderr}`)));
  });
  return child;
}

/** Starts a runner node in this process, with its own pool and database session. */
async function startNodeHere(name: string): Promise<JobRunner> {
  const nodePool = createPool(databaseUrl, 6);
  const runner = new JobRunner({
    pool: nodePool,
    databaseUrl,
    logger: pino({ level: 'silent' }),
    config: { concurrency: 4, maxAttempts: 3, retryBaseMs: 20, retryMaxMs: 200, retentionDays: 7 },
  });
  registerTestKinds(runner, nodePool, name);
  await runner.start();
  runners.push({ runner, pool: nodePool });
  return runner;
}

function queue(kind: string, input: unknown = {}, maxAttempts = 3): Promise<Job> {
  return insertJob(pool, { kind, input, maxAttempts });
}

async function stateOf(id: string): Promise<Job> {
  return (await findJob(pool, id)) as Job;
}

async function events(jobId: string): Promise<{ node: string; event: string; step: number | null }[]> {
  const { rows } = await pool.query('SELECT node, event, step FROM job_test_run WHERE job_id = $1 ORDER BY seq', [
    jobId,
  ]);
  return rows;
}

describe('the job runner', () => {
  it('runs 200 jobs exactly once to completion between two nodes', async () => {
    const a = await startNodeProcess('a');
    const b = await startNodeProcess('b');
    const jobs = await Promise.all(Array.from({ length: 200 }, (_, n) => queue('test.count', { n })));
    await until(
      async () => {
        const { rows } = await pool.query(
          `SELECT count(*)::int AS n FROM job WHERE kind = 'test.count' AND state = 'succeeded'`,
        );
        return rows[0].n === 200;
      },
      60_000,
      'all 200 jobs to succeed',
    );
    const { rows: runs } = await pool.query<{ job_id: string; starts: number; dones: number; nodes: string[] }>(
      `SELECT job_id, count(*) FILTER (WHERE event = 'start')::int AS starts, count(*) FILTER (WHERE event = 'done')::int AS dones,
         array_agg(DISTINCT node) AS nodes
       FROM job_test_run WHERE job_id = ANY($1) GROUP BY job_id`,
      [jobs.map((j) => j.id)],
    );
    expect(runs).toHaveLength(200);
    expect(runs.filter((r) => r.starts !== 1 || r.dones !== 1 || r.nodes.length !== 1)).toEqual([]);
    const { rows: finished } = await pool.query(`SELECT attempts, result FROM job WHERE kind = 'test.count'`);
    expect(finished.every((j) => j.attempts === 1)).toBe(true);
    expect(finished.map((j) => j.result.parameter[0].valueInteger).sort((x, y) => x - y)).toEqual(
      jobs.map((_, n) => n),
    );
    const perNode = {
      a: runs.filter((r) => r.nodes[0] === 'a').length,
      b: runs.filter((r) => r.nodes[0] === 'b').length,
    };
    // a run lies inside its claim, so runs overlapping on a node bound the jobs it held at once from below
    const { rows: overlap } = await pool.query<{ node: string; most: number }>(
      `SELECT node, max(running)::int AS most FROM (
         SELECT node, sum(CASE WHEN event = 'start' THEN 1 ELSE -1 END) OVER (PARTITION BY node ORDER BY at, seq) AS running
         FROM job_test_run WHERE job_id = ANY($1)) s GROUP BY node`,
      [jobs.map((j) => j.id)],
    );
    console.log(
      `200 jobs on two nodes: node a ran ${perNode.a}, node b ${perNode.b}, none twice; at most ${overlap.map((o) => `${o.most} at once on ${o.node}`).join(', ')}`,
    );
    expect(perNode.a).toBeGreaterThan(0);
    expect(perNode.b).toBeGreaterThan(0);
    expect(overlap.every((o) => o.most <= 4)).toBe(true);
    for (const c of [a, b]) {
      c.kill('SIGTERM');
      await once(c, 'exit');
    }
  }, 120_000);

  it('has a job of a SIGKILLed node taken over by another, resuming from its checkpoint', async () => {
    const victim = await startNodeProcess('victim');
    const job = await queue('test.slow', { steps: 30 });
    await until(
      async () => (await events(job.id)).filter((e) => e.event === 'step').length >= 3,
      20_000,
      'the victim to make progress',
    );
    await startNodeHere('survivor');
    victim.kill('SIGKILL');
    const killedAt = Date.now();
    await once(victim, 'exit');
    const done = await until(
      async () => {
        const j = await stateOf(job.id);
        return j.state === 'succeeded' && j;
      },
      30_000,
      'the survivor to finish the job',
    );
    const log = await events(job.id);
    const resumedAt = log.find((e) => e.event === 'start' && e.node === 'survivor')?.step as number;
    console.log(
      `SIGKILL mid-job: taken over from step ${resumedAt} of 30, finished ${Date.now() - killedAt} ms after the kill`,
    );
    expect(done.attempts).toBe(2);
    expect(log[0]).toEqual({ node: 'victim', event: 'start', step: 0 });
    expect(resumedAt).toBeGreaterThanOrEqual(3);
    expect(log.filter((e) => e.event === 'done')).toEqual([{ node: 'survivor', event: 'done', step: 30 }]);
    // each step committed exactly once, the victim's before the checkpoint, the survivor's after it
    const steps = log.filter((e) => e.event === 'step');
    expect(steps.map((e) => e.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(steps.every((e) => ((e.step as number) <= resumedAt ? e.node === 'victim' : e.node === 'survivor'))).toBe(
      true,
    );
    expect(done.progress).toEqual({ done: 30, total: 30 });
  }, 60_000);

  it('retries a failing job with backoff and puts it in the dead letter after its attempts', async () => {
    const runner = await startNodeHere('here');
    const job = await queue('test.fail', {}, 3);
    const dead = await until(
      async () => {
        const j = await stateOf(job.id);
        return j.state === 'dead' && j;
      },
      20_000,
      'the dead letter',
    );
    expect(dead.attempts).toBe(3);
    expect(dead.errorStatus).toBe(500);
    expect(dead.error?.issue?.[0].diagnostics).toBe('the downstream system is unreachable');
    // each retry waited at least the fixed half of its backoff (base 20 ms, doubling)
    const { rows: starts } = await pool.query<{ gap: number }>(
      `SELECT (extract(epoch FROM at - lag(at) OVER (ORDER BY seq)) * 1000)::float8 AS gap FROM job_test_run WHERE job_id = $1 AND event = 'start' ORDER BY seq`,
      [job.id],
    );
    expect(starts).toHaveLength(3);
    expect(starts[1].gap).toBeGreaterThanOrEqual(10);
    expect(starts[2].gap).toBeGreaterThanOrEqual(20);
    expect((await runner.list({ state: 'dead', limit: 10 })).map((j) => j.id)).toContain(job.id);
    // requeued from the dead letter with fresh attempts, it is tried three more times
    expect((await runner.requeue(job.id))?.state).toBe('queued');
    await until(
      async () => (await stateOf(job.id)).state === 'dead' && (await events(job.id)).length === 6,
      20_000,
      'the second round',
    );
  }, 60_000);

  it('fails a job with bad input at once, and a job that hangs after its timeouts', async () => {
    await startNodeHere('here');
    const invalid = await queue('test.invalid', {}, 3);
    const hang = await queue('test.hang', {}, 2);
    const failed = await until(
      async () => {
        const j = await stateOf(invalid.id);
        return j.state === 'failed' && j;
      },
      20_000,
      'the invalid job to fail',
    );
    expect(failed.attempts).toBe(1);
    expect(failed.errorStatus).toBe(400);
    expect(failed.error?.issue?.[0].diagnostics).toBe('this input can never work');
    const timedOut = await until(
      async () => {
        const j = await stateOf(hang.id);
        return j.state === 'dead' && j;
      },
      20_000,
      'the hanging job to die',
    );
    expect(timedOut.attempts).toBe(2);
    expect(timedOut.error?.issue?.[0].code).toBe('timeout');
    expect((await events(hang.id)).filter((e) => e.event === 'start')).toHaveLength(2);
  }, 60_000);

  it('cancels a running job: it stops, and nothing it does after the cancel is kept', async () => {
    const runner = await startNodeHere('here');
    const job = await queue('test.slow', { steps: 100 });
    await until(async () => (await events(job.id)).filter((e) => e.event === 'step').length >= 2, 20_000, 'progress');
    expect((await runner.cancel(job.id))?.state).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 500));
    const after = await stateOf(job.id);
    const steps = (await events(job.id)).filter((e) => e.event === 'step').map((e) => e.step);
    expect(after.state).toBe('cancelled');
    expect(after.finishedAt).not.toBeNull();
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
    expect(steps.length).toBeLessThan(100);
    expect(after.progress.done).toBe(steps.length);
    expect((await events(job.id)).some((e) => e.event === 'done')).toBe(false);
    // a queued job (of a kind no node runs) is cancelled before it ever runs
    const queued = await queue('test.unclaimed');
    expect(await runner.cancel(queued.id)).toMatchObject({ state: 'cancelled', attempts: 0, startedAt: null });
  }, 60_000);

  it('survives losing its database session: the job is interrupted, taken over from its checkpoint, and finished', async () => {
    await startNodeHere('here');
    const job = await queue('test.slow', { steps: 20 });
    await until(async () => (await events(job.id)).filter((e) => e.event === 'step').length >= 2, 20_000, 'progress');
    const { rowCount } = await pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tributary-jobs' AND datname = current_database()`,
    );
    expect(rowCount).toBe(1);
    const done = await until(
      async () => {
        const j = await stateOf(job.id);
        return j.state === 'succeeded' && j;
      },
      20_000,
      'the job to finish after the reconnect',
    );
    expect(done.attempts).toBe(2);
    const log = await events(job.id);
    expect(log.filter((e) => e.event === 'start')).toHaveLength(2);
    expect(log.filter((e) => e.event === 'step').map((e) => e.step)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  }, 60_000);

  it('gives a running job back to the queue when its node stops, and another node finishes it', async () => {
    const first = await startNodeHere('first');
    const job = await queue('test.slow', { steps: 20 });
    await until(async () => (await events(job.id)).filter((e) => e.event === 'step').length >= 2, 20_000, 'progress');
    await first.stop();
    const released = await stateOf(job.id);
    expect(released.state).toBe('queued');
    expect(released.attempts).toBe(0);
    await startNodeHere('second');
    const done = await until(
      async () => {
        const j = await stateOf(job.id);
        return j.state === 'succeeded' && j;
      },
      20_000,
      'the second node to finish',
    );
    expect(done.attempts).toBe(1);
    const steps = (await events(job.id)).filter((e) => e.event === 'step').map((e) => e.step);
    expect(steps).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  }, 60_000);
});
