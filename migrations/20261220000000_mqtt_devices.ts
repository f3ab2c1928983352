import type { Knex } from 'knex';

/**
 * Credentials of MQTT devices (integrations/mqtt/devices.ts): one row per Device resource allowed to connect, with its
 * secret as a salted scrypt hash (the secret itself is shown once, when issued). Revoking deletes the row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE mqtt_device_credential (
      device_id text PRIMARY KEY,
      secret_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `);
}

/** Drops the device credentials. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS mqtt_device_credential');
}
