import { pino } from 'pino';
import { createPool } from '../../db/pool.ts';
import { JobRunner } from '../runner.ts';
import { registerTestKinds } from './test-kinds.ts';

/**
 * A job runner node as an OS process of its own (`node --import tsx server/jobs/tests/runner-node.ts`), for the
 * runner's tests: several share one Postgres, and the crash test SIGKILLs one mid-job. DATABASE_URL (migrated) and
 * NODE_NAME come from the environment; it prints `ready` once its loop runs and stops cleanly on SIGTERM.
 */
const url = process.env.DATABASE_URL as string;
const pool = createPool(url, 6);
const runner = new JobRunner({
  pool,
  databaseUrl: url,
  logger: pino({ level: 'warn' }),
  config: { concurrency: 4, maxAttempts: 3, retryBaseMs: 20, retryMaxMs: 200, retentionDays: 7 },
});
registerTestKinds(runner, pool, process.env.NODE_NAME ?? `node-${process.pid}`);
await runner.start();
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void runner
    .stop()
    .then(() => pool.end())
    .then(() => process.exit(0));
});
