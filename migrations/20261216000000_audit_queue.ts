import type { Knex } from 'knex';

/**
 * The audit trail's durable queue (server/auth/audit.ts): every authorization decision and resource access is one
 * row, written in batches of one multi-row INSERT with no index but the key, so that auditing costs a request
 * little. A background indexer (server/auth/audit-indexer.ts) turns the rows into AuditEvent resources of the store
 * (resource, history, search index, outbox) and deletes them in the same transaction: exactly once, on any node.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE audit_queue (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id text NOT NULL,
      content text NOT NULL
    );
  `);
}

/** Drops the queue (events still in it are lost). */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS audit_queue');
}
