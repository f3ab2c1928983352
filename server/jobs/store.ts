import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Job, JobState, Progress } from './types.ts';

type Db = pg.Pool | pg.ClientBase;

/** The channel nodes hear about new and cancelled jobs on (LISTEN/NOTIFY): `new:<kind>` or `cancel:<id>`. */
export const JOBS_CHANNEL = 'tributary_jobs';

/** ISO instants in microseconds, as stored, so a (created_at, id) paging cursor is exact. */
const instant = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const COLUMNS = `id, kind, input, state, attempts, max_attempts AS "maxAttempts", ${instant('run_after')} AS "runAfter",
  lease_owner AS "leaseOwner", json_build_object('done', progress_done, 'total', progress_total) AS progress, checkpoint,
  result, error, error_status AS "errorStatus", requester, ${instant('created_at')} AS "createdAt",
  ${instant('updated_at')} AS "updatedAt", ${instant('started_at')} AS "startedAt", ${instant('finished_at')} AS "finishedAt"`;

/** A lease is dead when it ran out or its owner's database session is gone (the node died). */
const LEASE_DEAD = `(lease_until < now() OR NOT EXISTS (
  SELECT 1 FROM pg_stat_activity a WHERE a.pid || '@' || extract(epoch FROM a.backend_start) = job.lease_owner))`;

/** A job to queue. */
export interface NewJob {
  kind: string;
  input: unknown;
  maxAttempts: number;
  requester?: string;
  /** Known size of the work, shown as progress from the start. */
  total?: number;
}

/** Queues a job (in the caller's transaction when `db` is one) and tells the nodes, at commit. */
export async function insertJob(db: Db, job: NewJob): Promise<Job> {
  const { rows } = await db.query<Job>(
    `WITH inserted AS (
       INSERT INTO job (id, kind, input, state, max_attempts, requester, progress_total)
       VALUES ($1, $2, $3, 'queued', $4, $5, $6) RETURNING *)
     SELECT ${COLUMNS}, pg_notify('${JOBS_CHANNEL}', 'new:' || kind) FROM inserted`,
    [
      randomUUID(),
      job.kind,
      JSON.stringify(job.input ?? {}),
      job.maxAttempts,
      job.requester ?? null,
      job.total ?? null,
    ],
  );
  return withoutNotify(rows[0]);
}

/** A job by id, or undefined. */
export async function findJob(db: Db, id: string): Promise<Job | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
  const { rows } = await db.query<Job>(`SELECT ${COLUMNS} FROM job WHERE id = $1`, [id]);
  return rows[0];
}

/**
 * The identity of a node's lease-holding database session (`pid@backend_start`): while that session lives its leases
 * hold; when the node dies Postgres ends the session and its jobs can be taken over at once.
 */
export async function sessionIdentity(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ owner: string }>(
    `SELECT pid || '@' || extract(epoch FROM backend_start) AS owner FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
  );
  return rows[0].owner;
}

// The loop's three statements (claim, bury, next due) run every round on every node: they are prepared once per
// connection (named), so Postgres does not parse and plan them again each second.

/**
 * Claims up to `limit` jobs of the given kinds for `owner`: queued ones that are due, and running ones whose lease is
 * dead (taken over, resuming from their checkpoint). Each claim counts an attempt. `FOR UPDATE SKIP LOCKED` lets
 * nodes claim at the same time without waiting on each other or ever claiming the same job.
 */
export async function claimJobs(
  db: Db,
  kinds: string[],
  limit: number,
  owner: string,
  leaseMs: number,
): Promise<Job[]> {
  const { rows } = await db.query<Job>({
    name: 'jobs-claim',
    text: `WITH due AS (
       SELECT id FROM job
       WHERE kind = ANY($1) AND attempts < max_attempts
         AND ((state = 'queued' AND run_after <= now()) OR (state = 'running' AND ${LEASE_DEAD}))
       ORDER BY run_after, created_at
       LIMIT $2
       FOR UPDATE SKIP LOCKED),
     claimed AS (
       UPDATE job j SET state = 'running', lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond',
         attempts = j.attempts + 1, started_at = coalesce(j.started_at, now()), updated_at = now()
       FROM due WHERE j.id = due.id
       RETURNING j.*)
     SELECT ${COLUMNS} FROM claimed ORDER BY created_at`,
    values: [kinds, limit, owner, leaseMs],
  });
  return rows;
}

/** Moves running jobs whose lease is dead and that have no attempt left to the dead letter; returns their ids. */
export async function buryAbandoned(db: Db, kinds: string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>({
    name: 'jobs-bury',
    text: `UPDATE job SET state = 'dead', lease_owner = NULL, lease_until = NULL, finished_at = now(), updated_at = now(),
       error_status = 500, error = jsonb_build_object('resourceType', 'OperationOutcome', 'issue', jsonb_build_array(
         jsonb_build_object('severity', 'error', 'code', 'incomplete',
           'diagnostics', 'The node running the last attempt stopped before it finished')))
     WHERE state = 'running' AND kind = ANY($1) AND attempts >= max_attempts AND ${LEASE_DEAD}
     RETURNING id`,
    values: [kinds],
  });
  return rows.map((r) => r.id);
}

/** Extends the leases of this node's running jobs; returns the ids it still holds (the others were cancelled or lost). */
export async function renewLeases(db: Db, ids: string[], owner: string, leaseMs: number): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE job SET lease_until = now() + $3 * interval '1 millisecond'
     WHERE id = ANY($1) AND lease_owner = $2 AND state = 'running' RETURNING id`,
    [ids, owner, leaseMs],
  );
  return new Set(rows.map((r) => r.id));
}

/** Saves progress if the job is still `owner`'s and running; false otherwise. */
export async function saveProgress(db: Db, id: string, owner: string, p: Progress): Promise<boolean> {
  const res = await db.query(
    `UPDATE job SET progress_done = $3, progress_total = coalesce($4, progress_total), checkpoint = coalesce($5, checkpoint),
       updated_at = now()
     WHERE id = $1 AND lease_owner = $2 AND state = 'running'`,
    [id, owner, p.done, p.total ?? null, p.checkpoint === undefined ? null : JSON.stringify(p.checkpoint)],
  );
  return res.rowCount === 1;
}

/** Records success if the job is still `owner`'s; false when it was cancelled or taken over meanwhile. */
export async function completeJob(db: Db, id: string, owner: string, result: Resource | undefined): Promise<boolean> {
  const res = await db.query(
    `UPDATE job SET state = 'succeeded', result = $3, error = NULL, error_status = NULL, lease_owner = NULL,
       lease_until = NULL, finished_at = now(), updated_at = now()
     WHERE id = $1 AND lease_owner = $2 AND state = 'running'`,
    [id, owner, result === undefined ? null : JSON.stringify(result)],
  );
  return res.rowCount === 1;
}

/** How a failed attempt ends. */
export interface Failure {
  outcome: OperationOutcome;
  /** HTTP status the job's status URL answers once it has failed for good. */
  status: number;
  /** No retry can help (bad input): failed at once. */
  permanent: boolean;
  /** When to try again, if attempts are left. */
  retryInMs: number;
}

/**
 * Records a failed attempt if the job is still `owner`'s: queued again after the backoff, or `failed` (permanent), or
 * `dead` (no attempts left). Returns the new state, undefined when the job was no longer this node's.
 */
export async function failJob(db: Db, id: string, owner: string, f: Failure): Promise<JobState | undefined> {
  const { rows } = await db.query<{ state: JobState }>(
    `UPDATE job SET state = CASE WHEN $3 THEN 'failed' WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
       run_after = now() + $4 * interval '1 millisecond', error = $5, error_status = $6, lease_owner = NULL,
       lease_until = NULL, updated_at = now(),
       finished_at = CASE WHEN $3 OR attempts >= max_attempts THEN now() END
     WHERE id = $1 AND lease_owner = $2 AND state = 'running'
     RETURNING state`,
    [id, owner, f.permanent, f.retryInMs, JSON.stringify(f.outcome), f.status],
  );
  return rows[0]?.state;
}

/** Gives this node's running jobs back to the queue (shutdown): the interrupted attempt does not count. */
export async function releaseJobs(db: Db, owner: string): Promise<number> {
  const res = await db.query(
    `UPDATE job SET state = 'queued', attempts = greatest(attempts - 1, 0), lease_owner = NULL, lease_until = NULL,
       run_after = now(), updated_at = now()
     WHERE lease_owner = $1 AND state = 'running'`,
    [owner],
  );
  return res.rowCount ?? 0;
}

/**
 * Cancels a queued or running job (the node running it hears at once, and nothing it does after is kept); returns the
 * job afterwards, or undefined when there is no such job. A finished job is returned unchanged.
 */
export async function cancelJob(db: Db, id: string): Promise<Job | undefined> {
  const { rows } = await db.query<Job>(
    `WITH cancelled AS (
       UPDATE job SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, finished_at = now(), updated_at = now()
       WHERE id = $1 AND state IN ('queued', 'running') RETURNING *)
     SELECT ${COLUMNS}, pg_notify('${JOBS_CHANNEL}', 'cancel:' || id) FROM cancelled`,
    [id],
  );
  return rows[0] ? withoutNotify(rows[0]) : findJob(db, id);
}

/** Deletes a finished job (its status URL then answers 404); false when it is still queued or running. */
export async function deleteFinishedJob(db: Db, id: string): Promise<boolean> {
  const res = await db.query(`DELETE FROM job WHERE id = $1 AND state NOT IN ('queued', 'running')`, [id]);
  return res.rowCount === 1;
}

/** Puts a dead or failed job back in the queue with fresh attempts (it resumes from its checkpoint). */
export async function requeueJob(db: Db, id: string): Promise<Job | undefined> {
  const { rows } = await db.query<Job>(
    `WITH requeued AS (
       UPDATE job SET state = 'queued', attempts = 0, run_after = now(), finished_at = NULL, updated_at = now()
       WHERE id = $1 AND state IN ('dead', 'failed') RETURNING *)
     SELECT ${COLUMNS}, pg_notify('${JOBS_CHANNEL}', 'new:' || kind) FROM requeued`,
    [id],
  );
  return rows[0] ? withoutNotify(rows[0]) : undefined;
}

/** Jobs by kind and state, newest first, `limit` at a time after the `before` cursor (a created_at, id pair). */
export async function listJobs(
  db: Db,
  filter: { kind?: string; state?: JobState; limit: number; before?: { createdAt: string; id: string } },
): Promise<Job[]> {
  const { rows } = await db.query<Job>(
    `SELECT ${COLUMNS} FROM job
     WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR state = $2)
       AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
     ORDER BY created_at DESC, id DESC LIMIT $5`,
    [
      filter.kind ?? null,
      filter.state ?? null,
      filter.before?.createdAt ?? null,
      filter.before?.id ?? null,
      filter.limit,
    ],
  );
  return rows;
}

/** When the next queued job of these kinds is due (epoch ms), or undefined when none is queued. */
export async function nextDueAt(db: Db, kinds: string[]): Promise<number | undefined> {
  const { rows } = await db.query<{ at: number | null }>({
    name: 'jobs-next-due',
    text: `SELECT (extract(epoch FROM min(run_after)) * 1000)::float8 AS at FROM job WHERE state = 'queued' AND kind = ANY($1)`,
    values: [kinds],
  });
  return rows[0]?.at ?? undefined;
}

/** Deletes succeeded and cancelled jobs that finished more than `days` ago (failed and dead ones stay). */
export async function purgeFinishedJobs(db: Db, days: number): Promise<number> {
  const res = await db.query(
    `DELETE FROM job WHERE state IN ('succeeded', 'cancelled') AND finished_at < now() - $1 * interval '1 day'`,
    [days],
  );
  return res.rowCount ?? 0;
}

function withoutNotify(row: Job & { pg_notify?: unknown }): Job {
  const { pg_notify: _notify, ...job } = row;
  return job;
}
