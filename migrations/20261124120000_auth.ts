import type { Knex } from 'knex';

/**
 * Authorization server state (server/auth): oidc-provider's artifacts (sessions, interactions, codes, tokens, grants,
 * registered clients, replay records) as JSON payloads; its signing keys; local user accounts; EHR launch contexts.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE oidc_payload (
      model text NOT NULL,
      id text NOT NULL,
      payload jsonb NOT NULL,
      grant_id text,
      user_code text,
      uid text,
      expires_at timestamptz,
      consumed_at timestamptz,
      PRIMARY KEY (model, id)
    );
    CREATE INDEX oidc_payload_grant ON oidc_payload (grant_id) WHERE grant_id IS NOT NULL;
    CREATE INDEX oidc_payload_uid ON oidc_payload (uid) WHERE uid IS NOT NULL;
    CREATE INDEX oidc_payload_user_code ON oidc_payload (user_code) WHERE user_code IS NOT NULL;
    CREATE INDEX oidc_payload_expires ON oidc_payload (expires_at) WHERE expires_at IS NOT NULL;

    CREATE TABLE oidc_key (
      kid text PRIMARY KEY,
      jwk jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE auth_user (
      id text PRIMARY KEY,
      username text NOT NULL UNIQUE,
      password_hash text,
      role text NOT NULL,
      fhir_user text,
      patient text,
      name text,
      upstream_issuer text,
      upstream_subject text,
      failed_logins integer NOT NULL DEFAULT 0,
      locked_until timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (upstream_issuer, upstream_subject)
    );

    CREATE TABLE auth_launch (
      id text PRIMARY KEY,
      patient text,
      encounter text,
      created_by text,
      expires_at timestamptz NOT NULL
    );
  `);
}

/** Drops everything `up` created. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS auth_launch, auth_user, oidc_key, oidc_payload');
}
