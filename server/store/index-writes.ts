import type pg from 'pg';
import { INDEX_TABLES, type IndexRows, type IndexTable } from './indexer.ts';

/** The search index part of a write: which resource, its new index rows (null: none, e.g. a deletion). */
export interface IndexWrite {
  rid: number;
  resourceType: string;
  id: string;
  /** True when the resource may already have index rows that must be replaced. */
  replaces: boolean;
  index: IndexRows | null;
  content: string | null;
  /** When the resource was written (contained resources carry their container's). */
  lastUpdated: string;
}

/** Column names and Postgres array types of each index table, after `rid` and `resource_type`. */
const COLUMNS: Record<IndexTable, [name: string, type: string][]> = {
  token: [
    ['code', 'text'],
    ['system', 'text'],
    ['value', 'text'],
  ],
  string: [
    ['code', 'text'],
    ['value', 'text'],
    ['exact', 'text'],
  ],
  reference: [
    ['code', 'text'],
    ['target_type', 'text'],
    ['target_id', 'text'],
    ['url', 'text'],
  ],
  date: [
    ['code', 'text'],
    ['low', 'timestamptz'],
    ['high', 'timestamptz'],
  ],
  number: [
    ['code', 'text'],
    ['low', 'numeric'],
    ['high', 'numeric'],
  ],
  quantity: [
    ['code', 'text'],
    ['system', 'text'],
    ['unit', 'text'],
    ['low', 'numeric'],
    ['high', 'numeric'],
  ],
  uri: [
    ['code', 'text'],
    ['value', 'text'],
  ],
  composite: [
    ['code', 'text'],
    ['components', 'jsonb'],
  ],
};

/**
 * Replaces the index rows of a batch of resources in ONE statement: data-modifying CTEs delete the old rows of every
 * replaced resource and insert the new rows of every table (unnest of column arrays). All CTEs see the same snapshot,
 * so the deletes never touch the rows inserted beside them. One round trip per batch whatever its size.
 */
export async function writeIndexRows(client: pg.ClientBase, writes: IndexWrite[]): Promise<void> {
  const params: unknown[] = [];
  const p = (v: unknown, type: string) => `$${params.push(v)}::${type}`;
  const ctes: string[] = [];
  const replaced = writes.filter((w) => w.replaces).map((w) => w.rid);
  if (replaced.length > 0) {
    const rids = p(replaced, 'bigint[]');
    const containedRids = `SELECT rid FROM contained_resource WHERE container_rid = ANY(${rids})`;
    for (const table of INDEX_TABLES) {
      ctes.push(`d_${table} AS (DELETE FROM sp_${table} WHERE rid = ANY(${rids}))`);
      ctes.push(`dc_${table} AS (DELETE FROM sp_${table} WHERE rid IN (${containedRids}))`);
    }
    ctes.push(`d_contained AS (DELETE FROM contained_resource WHERE container_rid = ANY(${rids}))`);
  }
  const owners = await withContained(client, writes);
  const contained = owners.filter((o) => o.container !== undefined);
  if (contained.length > 0) {
    const cols = [
      ['rid', 'bigint'],
      ['container_rid', 'bigint'],
      ['resource_type', 'text'],
      ['id', 'text'],
      ['last_updated', 'timestamptz'],
      ['content', 'text'],
    ];
    const values = [
      contained.map((o) => o.rid),
      contained.map((o) => o.container),
      contained.map((o) => o.resourceType),
      contained.map((o) => o.id),
      contained.map((o) => o.lastUpdated),
      contained.map((o) => o.content),
    ];
    ctes.push(`i_contained AS (INSERT INTO contained_resource (${cols.map(([n]) => n).join(', ')})
      SELECT * FROM unnest(${values.map((v, i) => p(v, `${cols[i][1]}[]`)).join(', ')}))`);
  }
  for (const table of INDEX_TABLES) {
    const columns = COLUMNS[table];
    const arrays: unknown[][] = [[], [], ...columns.map(() => [])];
    for (const o of owners) {
      for (const row of (o.rows?.[table] ?? []) as unknown[][]) {
        arrays[0].push(o.rid);
        arrays[1].push(o.resourceType);
        for (let i = 0; i < row.length; i++) arrays[i + 2].push(row[i]);
      }
    }
    if (arrays[0].length === 0) continue;
    const types = ['bigint', 'text', ...columns.map(([, type]) => type)];
    const unnest = arrays.map((a, i) => p(a, `${types[i]}[]`)).join(', ');
    const names = ['rid', 'resource_type', ...columns.map(([name]) => name)].join(', ');
    ctes.push(`i_${table} AS (INSERT INTO sp_${table} (${names}) SELECT * FROM unnest(${unnest}))`);
  }
  if (ctes.length > 0) {
    const text = `WITH ${ctes.join(',\n')} SELECT 1`;
    await client.query({ name: statementName(text), text, values: params });
  }
}

/**
 * Names for the index statement's texts, so each is prepared once per connection (parsed and planned once) instead of
 * on every write. The text depends only on which index tables a batch touches and whether it replaces or contains
 * resources, so there are few of them; past a bound, new texts run unnamed.
 */
const statementNames = new Map<string, string>();
const MAX_NAMED_STATEMENTS = 512;

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `tributary-index-${statementNames.size}`;
    statementNames.set(text, name);
  }
  return name;
}

/** Everything that gets index rows: each written resource and each resource it contains (with a fresh rid). */
interface IndexOwner {
  rid: number;
  resourceType: string;
  rows: IndexRows | null;
  container?: number;
  id?: string;
  content?: string;
  lastUpdated?: string;
}

async function withContained(client: pg.ClientBase, writes: IndexWrite[]): Promise<IndexOwner[]> {
  const owners: IndexOwner[] = writes.map((w) => ({ rid: w.rid, resourceType: w.resourceType, rows: w.index }));
  const contained = writes.flatMap((w) => (w.index?.contained ?? []).map((c) => ({ w, c })));
  if (contained.length === 0) return owners;
  const { rows } = await client.query<{ rid: string }>(
    `SELECT nextval(pg_get_serial_sequence('resource', 'rid')) AS rid FROM generate_series(1, $1)`,
    [contained.length],
  );
  contained.forEach(({ w, c }, i) => {
    owners.push({
      rid: Number(rows[i].rid),
      resourceType: c.resourceType,
      rows: c.rows,
      container: w.rid,
      id: c.id,
      content: c.content,
      lastUpdated: w.lastUpdated,
    });
  });
  return owners;
}
