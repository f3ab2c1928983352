import type { Knex } from 'knex';

/**
 * The durable job runner (server/jobs): one table for every kind of background work. A job is queued, claimed by one
 * node with a lease owned by that node's database session, retried with backoff, and ends succeeded, failed, cancelled
 * or dead (the dead letter). `checkpoint` is the handler's own resumable state, written with its progress. The
 * `$reindex` jobs move here: the ones still queued or running are carried over, then their old table goes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE job (
      id uuid PRIMARY KEY,
      kind text NOT NULL,
      input jsonb NOT NULL DEFAULT '{}',
      state text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'dead')),
      attempts int NOT NULL DEFAULT 0,
      max_attempts int NOT NULL,
      run_after timestamptz NOT NULL DEFAULT now(),
      lease_owner text,
      lease_until timestamptz,
      progress_done bigint NOT NULL DEFAULT 0,
      progress_total bigint,
      checkpoint jsonb,
      result jsonb,
      error jsonb,
      error_status int,
      requester text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      finished_at timestamptz
    );
    CREATE INDEX job_queued ON job (run_after) WHERE state = 'queued';
    CREATE INDEX job_running ON job (lease_owner) WHERE state = 'running';
    CREATE INDEX job_by_state ON job (state, kind, created_at);

    INSERT INTO job (id, kind, input, state, attempts, max_attempts, progress_done, progress_total, checkpoint, created_at)
    SELECT id, 'reindex', jsonb_build_object('resourceType', resource_type, 'lastRid', last_rid), 'queued', 0, 5,
           processed, total, jsonb_build_object('nextRid', next_rid), created_at
    FROM reindex_job WHERE status IN ('queued', 'running');
    DROP TABLE reindex_job;
  `);
}

/** Drops the jobs table (and gives `$reindex` its own, empty, back). */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS job;
    CREATE TABLE reindex_job (
      id uuid PRIMARY KEY, resource_type text, status text NOT NULL, next_rid bigint NOT NULL DEFAULT 0,
      last_rid bigint NOT NULL, processed bigint NOT NULL DEFAULT 0, total bigint NOT NULL, error text,
      lease_until timestamptz, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX reindex_job_pending ON reindex_job (created_at) WHERE status IN ('queued', 'running');
  `);
}
