import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type pg from 'pg';

/**
 * Where a job is: `queued` (waiting to run, or to be retried after `runAfter`), `running` (leased by a node),
 * `succeeded`, `failed` (an error that no retry can fix, e.g. bad input), `cancelled`, or `dead` (the dead letter:
 * it failed on every attempt, or ran out of attempts).
 */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'dead';

/** A job as stored. Times are ISO instants (UTC). */
export interface Job<I = unknown> {
  id: string;
  kind: string;
  input: I;
  state: JobState;
  /** Attempts started so far (the running one included). */
  attempts: number;
  maxAttempts: number;
  /** When a queued job may run (retries wait here). */
  runAfter: string;
  /** The node session holding the lease while running (`pid@backend_start`). */
  leaseOwner: string | null;
  /** Units of work done, and out of how many when known. */
  progress: { done: number; total: number | null };
  /** The handler's resumable state, saved with its progress (e.g. where a batch job got to). */
  checkpoint: unknown;
  /** What a succeeded job produced (answered by its status URL). */
  result: Resource | null;
  /** Why the last attempt failed, and the HTTP status its status URL answers with once failed or dead. */
  error: OperationOutcome | null;
  errorStatus: number | null;
  /** OAuth client that queued it through the FHIR API (only it may poll it); null for the server's own jobs. */
  requester: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** A progress report of a running job. */
export interface Progress {
  done: number;
  total?: number;
  /** Saved for the next attempt, which then resumes instead of starting over. */
  checkpoint?: unknown;
}

/** What a job handler gets. */
export interface JobContext<I = unknown> {
  /** The job as claimed: input, attempt number, last saved progress and checkpoint. */
  readonly job: Job<I>;
  /** Aborted when the job is cancelled, times out, its lease is lost, or the node stops: stop soon after. */
  readonly signal: AbortSignal;
  readonly pool: pg.Pool;
  /**
   * Saves progress (and a checkpoint). With `client`, inside that client's transaction, so the work and its progress
   * commit together. Throws (rolling that transaction back) when the job is no longer this node's: cancelled, or
   * taken over after a lost lease. Nothing a superseded run does after that is kept.
   */
  progress(progress: Progress, client?: pg.ClientBase): Promise<void>;
  /** Runs `fn` in one database transaction (commit on return, rollback on throw). */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
}

/**
 * Runs one attempt of a job; what it returns is the job's result. Throwing an OutcomeError of 4xx (other than 408,
 * 409, 429) fails the job at once; any other error is retried with backoff until the attempts are used up (dead).
 */
export type JobHandler<I = unknown> = (ctx: JobContext<I>) => Promise<Resource | void>;

/** A kind of job, as registered with the runner. */
export interface JobKind<I = unknown> {
  run: JobHandler<I>;
  /** Attempts before the dead letter (default: the runner's, JOBS_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** Longest an attempt may run, then it is aborted and counts as failed; 0: no limit (default 1 hour). */
  timeoutMs?: number;
}
