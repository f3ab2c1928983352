import type { Knex } from 'knex';

/**
 * Subscriptions and bots (server/subscriptions/README.md):
 * - `subscription_delivery`: one row per notification a subscription (or a bot's schedule) owes: what to send (event
 *   number, focus version; handshakes and heartbeats have no number), where it is in its retry schedule, its lease
 *   while a node delivers it, and what became of it (delivered, dead letter, cancelled).
 *   Delivered rows stay for a while as the subscription's event log (`$events`, websocket catch-up).
 * - `subscription_counter`: the number of events each subscription has had (`eventsSinceSubscriptionStart`).
 * - `ws_binding_token`: short-lived tokens that bind a websocket to subscriptions (`$get-ws-binding-token`).
 * - `bot_schedule`: the last schedule slot each scheduled bot ran for, so one node runs each slot once.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE subscription_delivery (
      id bigserial PRIMARY KEY,
      subscription_id text NOT NULL,
      event_number bigint,
      kind text NOT NULL,
      channel text NOT NULL,
      resource_type text,
      resource_id text,
      version_id bigint,
      action text,
      status text NOT NULL DEFAULT 'pending',
      attempts integer NOT NULL DEFAULT 0,
      max_attempts integer NOT NULL,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      lease_until timestamptz,
      lease_owner text,
      last_error text,
      dedupe_key text UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz,
      UNIQUE (subscription_id, event_number)
    );
    CREATE INDEX subscription_delivery_due ON subscription_delivery (next_attempt_at, id) WHERE status = 'pending';
    CREATE INDEX subscription_delivery_order ON subscription_delivery (subscription_id, resource_type, resource_id, id)
      WHERE status = 'pending';
    CREATE INDEX subscription_delivery_dead ON subscription_delivery (subscription_id, id) WHERE status = 'dead';
    CREATE INDEX subscription_delivery_done ON subscription_delivery (delivered_at) WHERE status = 'delivered';

    CREATE TABLE subscription_counter (
      subscription_id text PRIMARY KEY,
      events bigint NOT NULL
    );

    CREATE TABLE ws_binding_token (
      token text PRIMARY KEY,
      subscription_ids text[] NOT NULL,
      expires_at timestamptz NOT NULL
    );

    CREATE TABLE bot_schedule (
      bot text PRIMARY KEY,
      last_slot timestamptz NOT NULL
    );
  `);
}

/** Drops everything `up` created. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS bot_schedule, ws_binding_token, subscription_counter, subscription_delivery');
}
