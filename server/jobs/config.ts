import { intEnv } from '../env.ts';

/** Settings of the job runner, read from the environment (README: configuration table). */
export interface JobConfig {
  /** Jobs one node runs at the same time (all kinds together). */
  concurrency: number;
  /** Attempts of a job before the dead letter, for kinds that do not set their own. */
  maxAttempts: number;
  /** First retry delay; each further retry doubles it (with jitter) up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Days succeeded and cancelled jobs (and their status URLs) are kept. */
  retentionDays: number;
}

/** Reads the job runner's settings. */
export function loadJobConfig(env: NodeJS.ProcessEnv): JobConfig {
  return {
    concurrency: intEnv(env, 'JOBS_CONCURRENCY', 2) || 1,
    maxAttempts: intEnv(env, 'JOBS_MAX_ATTEMPTS', 5) || 1,
    retryBaseMs: intEnv(env, 'JOBS_RETRY_BASE_MS', 1000),
    retryMaxMs: intEnv(env, 'JOBS_RETRY_MAX_MS', 600_000),
    retentionDays: intEnv(env, 'JOBS_RETENTION_DAYS', 7),
  };
}
