import type pg from 'pg';

/** Tables background work changes by itself: the outbox reader consumes `outbox` and queues notifications. */
const BACKGROUND = ['outbox', 'subscription_delivery', 'subscription_counter'];

/**
 * Row counts of every table of the store (all tables in the public schema except knex's bookkeeping and the
 * BACKGROUND ones), to prove that a failed or interrupted write left nothing behind. A write's outbox row is written
 * with its `resource_history` row, which is counted.
 */
export async function tableCounts(db: pg.Pool | pg.Client): Promise<Record<string, number>> {
  const tables = await db.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'knex_%' AND NOT (table_name = ANY($1)) ORDER BY 1`,
    [BACKGROUND],
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables.rows) {
    const r = await db.query<{ n: string }>(`SELECT count(*) AS n FROM "${name}"`);
    counts[name] = Number(r.rows[0].n);
  }
  return counts;
}
