import type { Knex } from 'knex';

/**
 * Contained resources, indexed for `_contained` search. Each gets its own `rid` from the resource table's sequence, so
 * its index rows live in the same sp_* tables without ever joining a `resource` row (normal searches never see them).
 * Columns mirror `resource` so the same search SQL applies; rows are replaced whenever their container is written.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE contained_resource (
      rid bigint PRIMARY KEY,
      container_rid bigint NOT NULL,
      resource_type text NOT NULL,
      id text NOT NULL,
      last_updated timestamptz NOT NULL,
      deleted boolean NOT NULL DEFAULT false,
      content text NOT NULL
    );
    CREATE INDEX contained_resource_container ON contained_resource (container_rid);
    CREATE INDEX contained_resource_type ON contained_resource (resource_type, rid);
  `);
}

/** Drops the table. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS contained_resource');
}
