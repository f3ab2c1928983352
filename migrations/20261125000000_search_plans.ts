import type { Knex } from 'knex';

/** Extended statistics: the columns of each index table whose values go together (see `up`). */
const STATISTICS: [name: string, table: string, columns: string][] = [
  ['sp_token_stats', 'sp_token', 'resource_type, code, value'],
  ['sp_string_stats', 'sp_string', 'resource_type, code, value'],
  ['sp_uri_stats', 'sp_uri', 'resource_type, code, value'],
  ['sp_reference_stats', 'sp_reference', 'resource_type, code, target_type'],
  ['sp_date_stats', 'sp_date', 'resource_type, code'],
  ['sp_number_stats', 'sp_number', 'resource_type, code'],
  ['sp_quantity_stats', 'sp_quantity', 'resource_type, code'],
  ['sp_composite_stats', 'sp_composite', 'resource_type, code'],
];

/**
 * What the search plans at a million resources needed (bench/search.ts, server/store/README.md):
 * - Extended statistics (MCV lists, dependencies) on the index tables' `(resource_type, code, value)`: the planner
 *   otherwise multiplies the three columns' frequencies as if independent and underestimates a common code's rows
 *   ten-fold (Observation.code = a vital sign: 3,855 estimated, 34,641 real), which picks the wrong join order.
 * - `sp_token (resource_type, code, value, rid) INCLUDE (system)` instead of `(resource_type, code, value, system,
 *   rid)`: the rids of one code are then in order whatever its system, and "does resource R have code C" is one
 *   index-only probe (used when a search checks candidates one by one, e.g. `_has`); `system|code` still reads the
 *   system from the index.
 * - `sp_date (resource_type, code, high, low, rid)`: `ge`/`gt`/`eb` bound the range's end, which the `low`-first
 *   lookup index cannot seek to (every value of the parameter was scanned).
 * - `sp_date (rid, code) INCLUDE (resource_type, low, high)` instead of `(rid)`: checking a candidate's date and
 *   reading its `_sort` date (`Observation?subject=…&_sort=-date`, per Observation of the patient) become index-only
 *   probes instead of a heap visit each.
 */
export async function up(knex: Knex): Promise<void> {
  for (const [name, table, columns] of STATISTICS) {
    await knex.raw(`CREATE STATISTICS ${name} (mcv, dependencies) ON ${columns} FROM ${table}`);
  }
  await knex.raw(`
    CREATE INDEX sp_token_value ON sp_token (resource_type, code, value, rid) INCLUDE (system);
    DROP INDEX sp_token_lookup;
    CREATE INDEX sp_date_high ON sp_date (resource_type, code, high, low, rid);
    CREATE INDEX sp_date_owner ON sp_date (rid, code) INCLUDE (resource_type, low, high);
    DROP INDEX sp_date_rid;
    ANALYZE sp_token, sp_string, sp_uri, sp_reference, sp_date, sp_number, sp_quantity, sp_composite;
  `);
}

/** Restores the previous indexes and drops the statistics. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX sp_date_rid ON sp_date (rid);
    DROP INDEX sp_date_owner;
    DROP INDEX sp_date_high;
    CREATE INDEX sp_token_lookup ON sp_token (resource_type, code, value, system, rid);
    DROP INDEX sp_token_value;
  `);
  for (const [name] of STATISTICS) await knex.raw(`DROP STATISTICS ${name}`);
}
