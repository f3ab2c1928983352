import knex, { type Knex } from 'knex';
import pg from 'pg';
import * as resources from '../../migrations/20261123000000_resources.ts';
import * as reindexJobs from '../../migrations/20261124000000_reindex_jobs.ts';
import * as containedResources from '../../migrations/20261124000001_contained_resources.ts';
import * as auth from '../../migrations/20261124120000_auth.ts';
import * as searchPlans from '../../migrations/20261125000000_search_plans.ts';
import * as subscriptions from '../../migrations/20261201000000_subscriptions.ts';
import * as tokenStatistics from '../../migrations/20261202000000_token_statistics.ts';
import * as jobs from '../../migrations/20261203000000_jobs.ts';
import * as inbox from '../../migrations/20261203000001_inbox.ts';
import * as notificationAccess from '../../migrations/20261210000000_notification_access.ts';
import * as terminology from '../../migrations/20261215000000_terminology.ts';
import * as auditQueue from '../../migrations/20261216000000_audit_queue.ts';
import * as mqttDevices from '../../migrations/20261220000000_mqtt_devices.ts';
import { LOCKS } from './locks.ts';

/** Migrations in order. Imported statically so they run the same under tsx, vitest and compiled builds. */
const MIGRATIONS: Record<string, Knex.Migration> = {
  '20261123000000_resources': resources,
  '20261124000000_reindex_jobs': reindexJobs,
  '20261124000001_contained_resources': containedResources,
  '20261124120000_auth': auth,
  '20261125000000_search_plans': searchPlans,
  '20261201000000_subscriptions': subscriptions,
  '20261202000000_token_statistics': tokenStatistics,
  '20261203000000_jobs': jobs,
  '20261203000001_inbox': inbox,
  '20261210000000_notification_access': notificationAccess,
  '20261215000000_terminology': terminology,
  '20261216000000_audit_queue': auditQueue,
  '20261220000000_mqtt_devices': mqttDevices,
};

/** The names of the registered migrations, in order (a test checks every file of migrations/ is among them). */
export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS).sort();

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => [...MIGRATION_NAMES],
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name],
};

/** Advisory lock key that serialises migrations across nodes starting at once. */
const MIGRATION_LOCK_KEY = LOCKS.migrations;

/**
 * Runs pending knex migrations. A Postgres advisory lock held on its own connection makes concurrent starts safe:
 * the second node waits, then finds nothing left to do (knex's own lock table would fail it instead).
 */
export async function migrate(url: string): Promise<void> {
  const lockClient = new pg.Client({ connectionString: url });
  await lockClient.connect();
  const db = knex({ client: 'pg', connection: url, pool: { min: 0, max: 2 } });
  try {
    await lockClient.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await db.migrate.latest({ migrationSource });
  } finally {
    await lockClient.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    await lockClient.end();
    await db.destroy();
  }
}
