import type { OperationOutcome } from '@medplum/fhirtypes';
import type pg from 'pg';

type Db = pg.Pool | pg.ClientBase;

/**
 * Where a message is: `received` (stored, not processed yet, or queued again by a replay), `processed`, `failed` (the
 * last attempt failed; the sender's retransmission or a replay tries again) or `dead` (the doors' dead letter: a
 * failure no retry can fix, or no attempts left).
 */
export type InboxState = 'received' | 'processed' | 'failed' | 'dead';

/** The states a message can be in, for validating filters. */
export const INBOX_STATES: readonly InboxState[] = ['received', 'processed', 'failed', 'dead'];

/** Where a message came from: the door (`hl7v2`, `mqtt`, …) and its endpoint there (a listener, a topic, a URL). */
export interface InboxSource {
  door: string;
  endpoint: string;
}

/** A stored message without its payload. Times are ISO instants (UTC). */
export interface InboxMessage extends InboxSource {
  id: number;
  /** Unique per source: the same key received again is the same message (a duplicate). */
  dedupKey: string;
  contentType: string | null;
  /** Payload size in bytes. */
  size: number;
  state: InboxState;
  /** Processing attempts that ended (success or failure). */
  attempts: number;
  /** How many times the same message was received again. */
  duplicates: number;
  /** Why the last attempt failed. */
  error: OperationOutcome | null;
  /** What processing produced (e.g. the references it wrote), as the door recorded it. */
  result: unknown;
  createdAt: string;
  updatedAt: string;
}

/** A stored message with its raw payload. */
export interface StoredMessage extends InboxMessage {
  payload: Buffer;
}

/** Which messages an admin action is about. */
export interface InboxFilter {
  ids?: number[];
  door?: string;
  endpoint?: string;
  states?: InboxState[];
  /** Only messages received before this instant. */
  before?: string;
}

const instant = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const COLUMNS = `id, door, endpoint, dedup_key AS "dedupKey", content_type AS "contentType", octet_length(payload) AS size,
  state, attempts, duplicates, error, result, ${instant('created_at')} AS "createdAt", ${instant('updated_at')} AS "updatedAt"`;

const WHERE_FILTER = `($1::bigint[] IS NULL OR id = ANY($1)) AND ($2::text IS NULL OR door = $2)
  AND ($3::text IS NULL OR endpoint = $3) AND ($4::text[] IS NULL OR state = ANY($4))
  AND ($5::timestamptz IS NULL OR created_at < $5)`;

function filterParams(f: InboxFilter): unknown[] {
  return [f.ids ?? null, f.door ?? null, f.endpoint ?? null, f.states ?? null, f.before ?? null];
}

/**
 * Stores a received message, or counts a duplicate when its (door, endpoint, dedup key) is stored already: one
 * statement, so concurrent receptions of the same message agree on one row and exactly one of them sees it as new.
 */
export async function insertMessage(
  db: Db,
  source: InboxSource,
  dedupKey: string,
  payload: Buffer,
  contentType: string | undefined,
): Promise<{ message: InboxMessage; duplicate: boolean }> {
  const { rows } = await db.query<InboxMessage>(
    `INSERT INTO inbox_message (door, endpoint, dedup_key, content_type, payload, state)
     VALUES ($1, $2, $3, $4, $5, 'received')
     ON CONFLICT (door, endpoint, dedup_key) DO UPDATE SET duplicates = inbox_message.duplicates + 1, updated_at = now()
     RETURNING ${COLUMNS}`,
    [source.door, source.endpoint, dedupKey, contentType ?? null, payload],
  );
  // A new row has no duplicates yet; every later reception of the key counts one.
  return { message: rows[0], duplicate: rows[0].duplicates > 0 };
}

/** A message with its payload, or undefined. */
export async function findMessage(db: Db, id: number): Promise<StoredMessage | undefined> {
  const { rows } = await db.query<StoredMessage>(`SELECT ${COLUMNS}, payload FROM inbox_message WHERE id = $1`, [id]);
  return rows[0];
}

/** Records a successful attempt. Returns the message afterwards (undefined if it was purged meanwhile). */
export async function setProcessed(db: Db, id: number, result: unknown): Promise<InboxMessage | undefined> {
  const { rows } = await db.query<InboxMessage>(
    `UPDATE inbox_message SET state = 'processed', attempts = attempts + 1, error = NULL, result = $2, updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, result === undefined ? null : JSON.stringify(result)],
  );
  return rows[0];
}

/**
 * Records a failed attempt: `failed`, or `dead` when no retry can help (`permanent`) or the attempts reach
 * `maxAttempts`. Returns the message afterwards (undefined if it was purged meanwhile).
 */
export async function setFailed(
  db: Db,
  id: number,
  outcome: OperationOutcome,
  permanent: boolean,
  maxAttempts: number,
): Promise<InboxMessage | undefined> {
  const { rows } = await db.query<InboxMessage>(
    `UPDATE inbox_message SET attempts = attempts + 1, error = $2, updated_at = now(),
       state = CASE WHEN $3 OR attempts + 1 >= $4 THEN 'dead' ELSE 'failed' END
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, JSON.stringify(outcome), permanent, maxAttempts],
  );
  return rows[0];
}

/** Messages matching a filter, newest first, `limit` at a time below the `belowId` cursor. */
export async function listMessages(
  db: Db,
  filter: InboxFilter,
  limit: number,
  belowId?: number,
): Promise<InboxMessage[]> {
  const { rows } = await db.query<InboxMessage>(
    `SELECT ${COLUMNS} FROM inbox_message WHERE ${WHERE_FILTER} AND ($6::bigint IS NULL OR id < $6) ORDER BY id DESC LIMIT $7`,
    [...filterParams(filter), belowId ?? null, limit],
  );
  return rows;
}

/** Sets matching messages back to `received` with fresh attempts (in the caller's transaction); returns them, oldest first. */
export async function resetMessages(db: Db, filter: InboxFilter): Promise<{ id: number; door: string }[]> {
  const { rows } = await db.query<{ id: number; door: string }>(
    `UPDATE inbox_message SET state = 'received', attempts = 0, error = NULL, updated_at = now()
     WHERE ${WHERE_FILTER} RETURNING id, door`,
    filterParams(filter),
  );
  return rows.sort((a, b) => a.id - b.id);
}

/** Deletes matching messages; returns how many. */
export async function deleteMessages(db: Db, filter: InboxFilter): Promise<number> {
  const res = await db.query(`DELETE FROM inbox_message WHERE ${WHERE_FILTER}`, filterParams(filter));
  return res.rowCount ?? 0;
}

/**
 * Locks a message row for the rest of the caller's transaction and returns it with its payload: a door that writes
 * its FHIR resources and `setProcessed` in that same transaction processes each message exactly once, however many
 * nodes, replays or restarts race for it.
 */
export async function lockMessage(db: Db, id: number): Promise<StoredMessage | undefined> {
  const { rows } = await db.query<StoredMessage>(
    `SELECT ${COLUMNS}, payload FROM inbox_message WHERE id = $1 FOR UPDATE`,
    [id],
  );
  return rows[0];
}
