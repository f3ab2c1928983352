import type pg from 'pg';
import type { ChannelKind } from './subscription-spec.ts';

type Db = pg.Pool | pg.ClientBase;

/** What a delivery row sends: a subscription's event, a topic handshake or heartbeat, or a bot's scheduled run. */
export type DeliveryKind = 'event' | 'handshake' | 'heartbeat' | 'schedule';
export type DeliveryStatus = 'pending' | 'delivered' | 'dead' | 'cancelled';

/** A row of `subscription_delivery`. */
export interface Delivery {
  id: number;
  subscriptionId: string;
  eventNumber: number | null;
  kind: DeliveryKind;
  channel: ChannelKind;
  resourceType: string | null;
  resourceId: string | null;
  versionId: number | null;
  action: string | null;
  status: DeliveryStatus;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  /** `<bot>@<slot>` for scheduled runs. */
  dedupeKey: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** A notification to queue. */
export interface NewDelivery {
  subscriptionId: string;
  kind: DeliveryKind;
  channel: ChannelKind;
  resourceType?: string;
  resourceId?: string;
  versionId?: number;
  action?: string;
  maxAttempts: number;
  /** Recorded as already delivered (websocket events: pushed, never retried; the row is the catch-up log). */
  delivered?: boolean;
  /** Makes the insert a no-op when a row with this key exists (one run per bot schedule slot). */
  dedupeKey?: string;
}

const COLUMNS = `id::float8 AS id, subscription_id AS "subscriptionId", event_number::float8 AS "eventNumber", kind, channel,
  resource_type AS "resourceType", resource_id AS "resourceId", version_id::float8 AS "versionId", action, status, attempts,
  max_attempts AS "maxAttempts", last_error AS "lastError", dedupe_key AS "dedupeKey",
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt",
  to_char(delivered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "deliveredAt"`;

/**
 * Queues notifications in the caller's transaction, in order. Events and scheduled runs get the next event numbers
 * of their subscription (`subscription_counter`, so numbers are gap-free per subscription); handshakes and heartbeats
 * get none. Returns the rows inserted (a `dedupeKey` already present inserts nothing).
 */
export async function insertDeliveries(client: pg.ClientBase, list: NewDelivery[]): Promise<Delivery[]> {
  if (list.length === 0) return [];
  const counts = new Map<string, number>();
  for (const d of list) if (numbered(d)) counts.set(d.subscriptionId, (counts.get(d.subscriptionId) ?? 0) + 1);
  const next = new Map<string, number>();
  if (counts.size > 0) {
    const { rows } = await client.query<{ subscription_id: string; events: string }>(
      `INSERT INTO subscription_counter (subscription_id, events) SELECT * FROM unnest($1::text[], $2::bigint[])
       ON CONFLICT (subscription_id) DO UPDATE SET events = subscription_counter.events + excluded.events
       RETURNING subscription_id, events`,
      [[...counts.keys()], [...counts.values()]],
    );
    for (const r of rows) next.set(r.subscription_id, Number(r.events) - (counts.get(r.subscription_id) as number) + 1);
  }
  const numbers = list.map((d) => {
    if (!numbered(d)) return null;
    const n = next.get(d.subscriptionId) as number;
    next.set(d.subscriptionId, n + 1);
    return n;
  });
  const col = <T>(f: (d: NewDelivery) => T) => list.map(f);
  const { rows } = await client.query<Delivery>(
    `INSERT INTO subscription_delivery (subscription_id, event_number, kind, channel, resource_type, resource_id, version_id,
       action, max_attempts, status, delivered_at, dedupe_key)
     SELECT s, n, k, c, rt, ri, v, a, m, CASE WHEN done THEN 'delivered' ELSE 'pending' END, CASE WHEN done THEN now() END, dk
     FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::int[],
       $10::boolean[], $11::text[]) WITH ORDINALITY AS x(s, n, k, c, rt, ri, v, a, m, done, dk, ord)
     ORDER BY ord
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING ${COLUMNS}`,
    [
      col((d) => d.subscriptionId),
      numbers,
      col((d) => d.kind),
      col((d) => d.channel),
      col((d) => d.resourceType ?? null),
      col((d) => d.resourceId ?? null),
      col((d) => d.versionId ?? null),
      col((d) => d.action ?? null),
      col((d) => d.maxAttempts),
      col((d) => !!d.delivered),
      col((d) => d.dedupeKey ?? null),
    ],
  );
  return rows;
}

function numbered(d: NewDelivery): boolean {
  return d.kind === 'event' || d.kind === 'schedule';
}

/**
 * The identity of a node's lease-holding database session (`pid@backend_start`): while that session lives, its leases
 * hold; when the node dies, Postgres ends the session and its leases are free at once.
 */
export async function leaseOwner(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ owner: string }>(
    `SELECT pid || '@' || extract(epoch FROM backend_start) AS owner FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
  );
  return rows[0].owner;
}

/**
 * Claims up to `limit` due notifications for this node: pending, due, not leased by a live node, and not behind an
 * earlier pending notification of the same subscription about the same resource (so each resource's notifications
 * go out in order, retries included). A claim is a lease held by `owner` (leaseOwner): it lapses after `leaseMs`,
 * or as soon as the owner's database session is gone (the node died), so a crashed node's notifications are taken
 * over at once. `FOR UPDATE SKIP LOCKED` lets several nodes claim at once without waiting on each other.
 */
export async function claimDue(db: Db, limit: number, leaseMs: number, owner: string): Promise<Delivery[]> {
  const { rows } = await db.query<Delivery>(
    `WITH due AS (
       SELECT d.id FROM subscription_delivery d
       WHERE d.status = 'pending' AND d.next_attempt_at <= now()
         AND (d.lease_until IS NULL OR d.lease_until < now() OR NOT EXISTS (
           SELECT 1 FROM pg_stat_activity a WHERE a.pid || '@' || extract(epoch FROM a.backend_start) = d.lease_owner))
         AND NOT EXISTS (
           SELECT 1 FROM subscription_delivery e
           WHERE e.status = 'pending' AND e.subscription_id = d.subscription_id AND e.resource_type = d.resource_type
             AND e.resource_id = d.resource_id AND e.id < d.id)
       ORDER BY d.next_attempt_at, d.id
       LIMIT $1
       FOR UPDATE SKIP LOCKED),
     claimed AS (
       UPDATE subscription_delivery s SET lease_until = now() + $2 * interval '1 millisecond', lease_owner = $3, attempts = s.attempts + 1
       FROM due WHERE s.id = due.id
       RETURNING s.*)
     SELECT ${COLUMNS} FROM claimed ORDER BY id`,
    [limit, leaseMs, owner],
  );
  return rows;
}

/** When the next pending notification falls due (for the worker's sleep), or undefined if none is pending. */
export async function nextDueAt(db: Db): Promise<number | undefined> {
  const { rows } = await db.query<{ at: number | null }>(
    `SELECT (extract(epoch FROM min(greatest(next_attempt_at, coalesce(lease_until, next_attempt_at)))) * 1000)::float8 AS at
     FROM subscription_delivery WHERE status = 'pending'`,
  );
  return rows[0]?.at ?? undefined;
}

/** Records a successful delivery. */
export async function markDelivered(db: Db, id: number): Promise<void> {
  await db.query(
    `UPDATE subscription_delivery SET status = 'delivered', delivered_at = now(), lease_until = NULL, last_error = NULL WHERE id = $1`,
    [id],
  );
}

/**
 * Records a failed attempt: retried after `retryInMs`, or, when the row has used its attempts, moved to the dead
 * letter. Returns the new status.
 */
export async function markFailed(db: Db, id: number, error: string, retryInMs: number): Promise<DeliveryStatus> {
  const { rows } = await db.query<{ status: DeliveryStatus }>(
    `UPDATE subscription_delivery SET
       status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
       next_attempt_at = now() + $3 * interval '1 millisecond', lease_until = NULL, last_error = left($2, 2000)
     WHERE id = $1 RETURNING status`,
    [id, error, retryInMs],
  );
  return rows[0]?.status ?? 'cancelled';
}

/** Drops a notification that can no longer be sent (its subscription was deleted or turned off). */
export async function markCancelled(db: Db, id: number, reason: string): Promise<void> {
  await db.query(
    `UPDATE subscription_delivery SET status = 'cancelled', lease_until = NULL, last_error = $2 WHERE id = $1`,
    [id, reason],
  );
}

/** The dead letter: notifications that used all their attempts, oldest first (of one subscription, or all). */
export async function listDead(db: Db, subscriptionId?: string, limit = 1000): Promise<Delivery[]> {
  const { rows } = await db.query<Delivery>(
    `SELECT ${COLUMNS} FROM subscription_delivery WHERE status = 'dead' AND ($1::text IS NULL OR subscription_id = $1)
     ORDER BY id LIMIT $2`,
    [subscriptionId ?? null, limit],
  );
  return rows;
}

/**
 * Puts dead notifications back in the queue with fresh attempts (all of a subscription's, or the given ones); they
 * keep their place in each resource's order. Returns how many were requeued.
 */
export async function resendDead(
  db: Db,
  filter: { subscriptionId?: string; eventNumbers?: number[]; ids?: number[] },
): Promise<number> {
  const res = await db.query(
    `UPDATE subscription_delivery SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
     WHERE status = 'dead' AND ($1::text IS NULL OR subscription_id = $1)
       AND ($2::bigint[] IS NULL OR event_number = ANY($2)) AND ($3::bigint[] IS NULL OR id = ANY($3))`,
    [filter.subscriptionId ?? null, filter.eventNumbers ?? null, filter.ids ?? null],
  );
  return res.rowCount ?? 0;
}

/** A subscription's events after `since` (its event log: `$events`, websocket catch-up), oldest first. */
export async function eventsSince(
  db: Db,
  subscriptionId: string,
  since: number,
  until?: number,
  limit = 1000,
): Promise<Delivery[]> {
  const { rows } = await db.query<Delivery>(
    `SELECT ${COLUMNS} FROM subscription_delivery
     WHERE subscription_id = $1 AND kind = 'event' AND event_number > $2 AND ($3::bigint IS NULL OR event_number <= $3)
     ORDER BY event_number LIMIT $4`,
    [subscriptionId, since, until ?? null, limit],
  );
  return rows;
}

/** The number of events a subscription has had so far. */
export async function eventCount(db: Db, subscriptionId: string): Promise<number> {
  const { rows } = await db.query<{ events: string }>(
    'SELECT events FROM subscription_counter WHERE subscription_id = $1',
    [subscriptionId],
  );
  return Number(rows[0]?.events ?? 0);
}

/** Deletes delivered and cancelled notifications older than the retention period. */
export async function purgeDelivered(db: Db, retentionDays: number): Promise<number> {
  const res = await db.query(
    `DELETE FROM subscription_delivery WHERE status IN ('delivered', 'cancelled')
     AND coalesce(delivered_at, created_at) < now() - $1 * interval '1 day'`,
    [retentionDays],
  );
  return res.rowCount ?? 0;
}
