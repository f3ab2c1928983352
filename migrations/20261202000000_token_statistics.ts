import type { Knex } from 'knex';

/**
 * Larger statistics for token values (bench/search.ts at 1M resources): with the default target (100) the MCV list of
 * `sp_token (resource_type, code, value)` is shared by every type's tokens, so most of the 90 Observation codes of a
 * Synthea data set fell outside it and were estimated from the rest: 14 rows for a code with 1,257. The planner then
 * started `Observation?patient=…&code=…` from the code's rows instead of the patient's (17 ms instead of 1 ms, cold).
 * A target of 1000 keeps the common codes of every type in the list; ANALYZE samples 300,000 rows (≈6 s at 5M rows).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER STATISTICS sp_token_stats SET STATISTICS 1000;
    ALTER TABLE sp_token ALTER COLUMN value SET STATISTICS 1000;
    ANALYZE sp_token;
  `);
}

/** Back to the default statistics target. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER STATISTICS sp_token_stats SET STATISTICS -1;
    ALTER TABLE sp_token ALTER COLUMN value SET STATISTICS -1;
  `);
}
