import type pg from 'pg';
import type { IndexRows } from './indexer.ts';
import { writeIndexRows } from './index-writes.ts';

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

/**
 * Writes a batch of versions in two statements (unnest of arrays), whatever the batch size: the resource rows with
 * their history rows and outbox events, then the search index rows. This is what makes a 2,000-entry transaction
 * cost a few round trips rather than tens of thousands.
 * The resource upsert only replaces the row whose version is the one before; if another writer got there first the
 * counts differ and the caller's transaction is aborted (exactly one writer wins per version).
 */
export async function writeVersions(client: pg.ClientBase, writes: PendingWrite[]): Promise<void> {
  if (writes.length === 0) return;
  const col = <K extends keyof PendingWrite>(k: K) => writes.map((w) => w[k]);
  // One statement: the history rows and outbox events come from the upserted rows themselves, so each resource's
  // JSON crosses the wire (and is escaped into an array literal) once, not twice. Events keep the writes' order.
  const upserted = await client.query({
    // A fixed text: prepared once per connection, so Postgres parses and plans it once, not on every write.
    name: 'tributary-write-versions',
    text: `WITH up AS (
       INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::boolean[], $6::text[])
       ON CONFLICT (resource_type, id) DO UPDATE
         SET version_id = excluded.version_id, last_updated = excluded.last_updated,
             deleted = excluded.deleted, content = excluded.content
         WHERE resource.version_id = excluded.version_id - 1
       RETURNING rid, resource_type, id, version_id, last_updated, deleted, content
     ),
     method AS (SELECT * FROM unnest($1::text[], $2::text[], $7::text[]) WITH ORDINALITY AS m (resource_type, id, method, n)),
     history AS (
       INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, method, content)
       SELECT up.resource_type, up.id, up.version_id, up.last_updated, up.deleted, method.method, up.content
       FROM up JOIN method USING (resource_type, id)
     ),
     events AS (
       INSERT INTO outbox (resource_type, id, version_id, action)
       SELECT up.resource_type, up.id, up.version_id, method.method FROM up JOIN method USING (resource_type, id)
       ORDER BY method.n
     )
     SELECT rid, resource_type, id FROM up`,
    values: [
      col('resourceType'),
      col('id'),
      col('versionId'),
      col('lastUpdated'),
      col('deleted'),
      col('content'),
      col('method'),
    ],
  });
  if (upserted.rowCount !== writes.length) {
    const err = new Error('concurrent write on the same resource version') as Error & { code: string };
    err.code = '40001';
    throw err;
  }
  const rids = new Map(upserted.rows.map((r) => [`${r.resource_type}/${r.id}`, Number(r.rid)]));
  await writeIndexRows(
    client,
    writes.map((w) => ({ rid: rids.get(`${w.resourceType}/${w.id}`) as number, ...w })),
  );
}
