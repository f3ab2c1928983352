import type { Knex } from 'knex';

/**
 * Background `$reindex` jobs: which resources (all, one type), how far the job got (`next_rid`, resumable after a
 * restart), up to which `rid` it runs (resources written later are indexed by their own writes), and a lease so one
 * node works on a job at a time.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE reindex_job (
      id uuid PRIMARY KEY,
      resource_type text,
      status text NOT NULL,
      next_rid bigint NOT NULL DEFAULT 0,
      last_rid bigint NOT NULL,
      processed bigint NOT NULL DEFAULT 0,
      total bigint NOT NULL,
      error text,
      lease_until timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX reindex_job_pending ON reindex_job (created_at) WHERE status IN ('queued', 'running');
  `);
}

/** Drops the jobs table. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS reindex_job');
}
