import type pg from 'pg';
import { INDEX_TABLES, type IndexRows } from './indexer.ts';

/** One version about to be written: the resource row, its history row, its index rows and its outbox event. */
export interface PendingWrite {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  method: 'create' | 'update' | 'delete' | 'patch';
  /** Serialized resource (with meta), null for a delete. */
  content: string | null;
  index: IndexRows | null;
  /** True when the resource may already have index rows that must be replaced. */
  replaces: boolean;
}

const INDEX_COLUMNS: Record<(typeof INDEX_TABLES)[number], { cols: string[]; types: string[] }> = {
  token: { cols: ['system', 'value', 'text'], types: ['text', 'text', 'text'] },
  string: { cols: ['value', 'exact'], types: ['text', 'text'] },
  reference: { cols: ['target_type', 'target_id', 'reference'], types: ['text', 'text', 'text'] },
  date: { cols: ['low', 'high'], types: ['timestamptz', 'timestamptz'] },
  number: { cols: ['low', 'high'], types: ['numeric', 'numeric'] },
  quantity: { cols: ['system', 'unit', 'low', 'high'], types: ['text', 'text', 'numeric', 'numeric'] },
  uri: { cols: ['value'], types: ['text'] },
};

/**
 * Writes a batch of versions with one statement per table (unnest of arrays), whatever the batch size: this is what
 * makes a 2,000-entry transaction cost a dozen round trips rather than tens of thousands.
 * The resource upsert only replaces the row whose version is the one before; if another writer got there first the
 * counts differ and the caller's transaction is aborted (exactly one writer wins per version).
 */
export async function writeVersions(client: pg.ClientBase, writes: PendingWrite[]): Promise<void> {
  if (writes.length === 0) return;
  const col = <K extends keyof PendingWrite>(k: K) => writes.map((w) => w[k]);
  const upserted = await client.query(
    `INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::boolean[], $6::text[])
     ON CONFLICT (resource_type, id) DO UPDATE
       SET version_id = excluded.version_id, last_updated = excluded.last_updated,
           deleted = excluded.deleted, content = excluded.content
       WHERE resource.version_id = excluded.version_id - 1`,
    [col('resourceType'), col('id'), col('versionId'), col('lastUpdated'), col('deleted'), col('content')],
  );
  if (upserted.rowCount !== writes.length) {
    const err = new Error('concurrent write on the same resource version') as Error & { code: string };
    err.code = '40001';
    throw err;
  }
  await client.query(
    `INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, method, content)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::boolean[], $6::text[], $7::text[])`,
    [col('resourceType'), col('id'), col('versionId'), col('lastUpdated'), col('deleted'), col('method'), col('content')],
  );
  const replaced = writes.filter((w) => w.replaces);
  if (replaced.length > 0) {
    const types = replaced.map((w) => w.resourceType);
    const ids = replaced.map((w) => w.id);
    for (const table of INDEX_TABLES) {
      await client.query(
        `DELETE FROM sp_${table} t USING unnest($1::text[], $2::text[]) AS k(rt, id)
         WHERE t.resource_type = k.rt AND t.id = k.id`,
        [types, ids],
      );
    }
  }
  for (const table of INDEX_TABLES) await insertIndexRows(client, table, writes);
  await client.query(
    `INSERT INTO outbox (resource_type, id, version_id, action)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])`,
    [col('resourceType'), col('id'), col('versionId'), col('method')],
  );
}

async function insertIndexRows(client: pg.ClientBase, table: (typeof INDEX_TABLES)[number], writes: PendingWrite[]) {
  const { cols, types } = INDEX_COLUMNS[table];
  const arrays: unknown[][] = [[], [], [], ...cols.map(() => [])];
  for (const w of writes) {
    for (const row of w.index?.[table] ?? []) {
      arrays[0].push(w.resourceType);
      arrays[1].push(w.id);
      for (let i = 0; i < row.length; i++) arrays[i + 2].push(row[i]);
    }
  }
  if (arrays[0].length === 0) return;
  const allTypes = ['text', 'text', 'text', ...types];
  const params = allTypes.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  await client.query(
    `INSERT INTO sp_${table} (resource_type, id, code, ${cols.join(', ')}) SELECT * FROM unnest(${params})`,
    arrays,
  );
}
