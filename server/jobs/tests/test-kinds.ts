import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { badRequest } from '../../fhir/outcomes.ts';
import type { JobRunner } from '../runner.ts';

/**
 * Kinds of job for the runner's tests. Every run writes what it does to `job_test_run` outside the job's own
 * transactions (committed at once, kept whatever happens to the job), so a test sees each start and finish.
 */
export const TEST_RUN_TABLE = `CREATE TABLE IF NOT EXISTS job_test_run (
  seq bigint GENERATED ALWAYS AS IDENTITY, job_id uuid NOT NULL, node text NOT NULL, event text NOT NULL, step int,
  at timestamptz NOT NULL DEFAULT clock_timestamp())`;

/** Registers the test kinds on a runner; `node` names the runner in `job_test_run`. */
export function registerTestKinds(runner: JobRunner, pool: pg.Pool, node: string): void {
  const record = (jobId: string, event: string, step?: number) =>
    pool.query('INSERT INTO job_test_run (job_id, node, event, step) VALUES ($1, $2, $3, $4)', [
      jobId,
      node,
      event,
      step ?? null,
    ]);
  runner
    // a short job: start, a few milliseconds of work, done
    .register<{ n: number }>('test.count', {
      run: async (ctx) => {
        await record(ctx.job.id, 'start');
        await sleep(5 + (ctx.job.input.n % 10));
        await record(ctx.job.id, 'done');
        return { resourceType: 'Parameters', parameter: [{ name: 'n', valueInteger: ctx.job.input.n }] };
      },
    })
    // a long job of `steps` steps of 50 ms, each saved as progress with a checkpoint; resumes where it was left
    .register<{ steps: number }>('test.slow', {
      run: async (ctx) => {
        let step = (ctx.job.checkpoint as { step?: number } | null)?.step ?? 0;
        await record(ctx.job.id, 'start', step);
        while (step < ctx.job.input.steps) {
          await sleep(50, undefined, { signal: ctx.signal });
          step++;
          await ctx.transaction(async (client) => {
            await client.query('INSERT INTO job_test_run (job_id, node, event, step) VALUES ($1, $2, $3, $4)', [
              ctx.job.id,
              node,
              'step',
              step,
            ]);
            await ctx.progress({ done: step, total: ctx.job.input.steps, checkpoint: { step } }, client);
          });
        }
        await record(ctx.job.id, 'done', step);
        return { resourceType: 'Parameters', parameter: [{ name: 'steps', valueInteger: step }] };
      },
    })
    // fails on every attempt (a retryable error): ends in the dead letter
    .register('test.fail', {
      maxAttempts: 3,
      run: async (ctx) => {
        await record(ctx.job.id, 'start');
        throw new Error('the downstream system is unreachable');
      },
    })
    // refuses its input: failed at once, no retry
    .register('test.invalid', {
      run: async (ctx) => {
        await record(ctx.job.id, 'start');
        throw badRequest('this input can never work');
      },
    })
    // never finishes by itself: every attempt times out
    .register('test.hang', {
      maxAttempts: 2,
      timeoutMs: 200,
      run: async (ctx) => {
        await record(ctx.job.id, 'start');
        await sleep(60_000, undefined, { signal: ctx.signal });
      },
    });
}
