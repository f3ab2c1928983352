import type { Knex } from 'knex';

/**
 * The inbox of the ingest doors (server/inbox): every message a door (HL7v2 MLLP, MQTT, EHR pull) receives is stored
 * raw before it is acknowledged, once per (door, endpoint, dedup key), with its processing state, attempts and the
 * OperationOutcome of its last failure. Rows in state `dead` are the doors' dead letter.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE inbox_message (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      door text NOT NULL,
      endpoint text NOT NULL,
      dedup_key text NOT NULL,
      content_type text,
      payload bytea NOT NULL,
      state text NOT NULL CHECK (state IN ('received', 'processed', 'failed', 'dead')),
      attempts int NOT NULL DEFAULT 0,
      duplicates int NOT NULL DEFAULT 0,
      error jsonb,
      result jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (door, endpoint, dedup_key)
    );
    CREATE INDEX inbox_message_by_state ON inbox_message (state, id);
  `);
}

/** Drops the inbox. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS inbox_message');
}
