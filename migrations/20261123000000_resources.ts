import type { Knex } from 'knex';

/**
 * Core storage: current versions, every version, search index rows (one table per search value type, keyed by
 * the SearchParameter code, so runtime SearchParameters need no DDL), and the transactional outbox.
 * Design and reasons: server/store/README.md.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE resource (
      resource_type text NOT NULL,
      id text NOT NULL,
      version_id bigint NOT NULL,
      last_updated timestamptz NOT NULL,
      deleted boolean NOT NULL DEFAULT false,
      content text,
      PRIMARY KEY (resource_type, id)
    );
    CREATE INDEX resource_type_updated ON resource (resource_type, last_updated, id);

    CREATE TABLE resource_history (
      resource_type text NOT NULL,
      id text NOT NULL,
      version_id bigint NOT NULL,
      last_updated timestamptz NOT NULL,
      deleted boolean NOT NULL DEFAULT false,
      method text NOT NULL,
      content text,
      PRIMARY KEY (resource_type, id, version_id)
    );
    CREATE INDEX history_updated ON resource_history (last_updated);
    CREATE INDEX history_type_updated ON resource_history (resource_type, last_updated);

    CREATE TABLE sp_token (
      resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
      system text, value text, text text
    );
    CREATE INDEX sp_token_lookup ON sp_token (resource_type, code, value, system);
    CREATE INDEX sp_token_owner ON sp_token (resource_type, id);

    CREATE TABLE sp_string (
      resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
      value text NOT NULL, exact text NOT NULL
    );
    CREATE INDEX sp_string_lookup ON sp_string (resource_type, code, value text_pattern_ops);
    CREATE INDEX sp_string_owner ON sp_string (resource_type, id);

    CREATE TABLE sp_reference (
      resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
      target_type text, target_id text, reference text NOT NULL
    );
    CREATE INDEX sp_reference_lookup ON sp_reference (resource_type, code, target_id, target_type);
    CREATE INDEX sp_reference_target ON sp_reference (target_type, target_id);
    CREATE INDEX sp_reference_owner ON sp_reference (resource_type, id);

    CREATE TABLE sp_date (
      resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
      low timestamptz, high timestamptz
    );
    CREATE INDEX sp_date_lookup ON sp_date (resource_type, code, low, high);
    CREATE INDEX sp_date_owner ON sp_date (resource_type, id);

    CREATE TABLE sp_number (
      resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
      low numeric, high numeric
    );
    CREATE INDEX sp_number_lookup ON sp_number (resource_type, code, low, high);
    CREATE INDEX sp_number_owner ON sp_number (resource_type, id);

    CREATE TABLE sp_quantity (
      resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
      system text, unit text, low numeric, high numeric
    );
    CREATE INDEX sp_quantity_lookup ON sp_quantity (resource_type, code, unit, low, high);
    CREATE INDEX sp_quantity_owner ON sp_quantity (resource_type, id);

    CREATE TABLE sp_uri (
      resource_type text NOT NULL, id text NOT NULL, code text NOT NULL,
      value text NOT NULL
    );
    CREATE INDEX sp_uri_lookup ON sp_uri (resource_type, code, value);
    CREATE INDEX sp_uri_owner ON sp_uri (resource_type, id);

    CREATE TABLE outbox (
      seq bigserial PRIMARY KEY,
      resource_type text NOT NULL,
      id text NOT NULL,
      version_id bigint NOT NULL,
      action text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `);
}

/** Drops everything `up` created. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE IF EXISTS outbox, sp_uri, sp_quantity, sp_number, sp_date, sp_reference, sp_string,
    sp_token, resource_history, resource`);
}
