import type { Knex } from 'knex';

/**
 * Who may read what notifications carry (server/subscriptions/README.md, "Who reads notifications"):
 * - `subscription_owner`: the read access of the client that last wrote a Subscription, recorded by the server at
 *   write time (never from the resource): rest-hook notifications carry only what it may read. No row: the
 *   Subscription was written with unconfined access.
 * - `ws_binding_token.access_token`: the access token `$get-ws-binding-token` was called with; a binding token binds
 *   only while that token is valid, with that token's access.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE subscription_owner (
      subscription_id text PRIMARY KEY,
      client_id text,
      read_access jsonb NOT NULL
    );
    ALTER TABLE ws_binding_token ADD COLUMN access_token text;
    -- binding tokens made before this migration carry no access: they cannot be used any more
    DELETE FROM ws_binding_token;
  `);
}

/** Drops what `up` added. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(
    'DROP TABLE IF EXISTS subscription_owner; ALTER TABLE ws_binding_token DROP COLUMN IF EXISTS access_token',
  );
}
