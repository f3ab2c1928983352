import type { Basic, Resource, Subscription } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import pg from 'pg';
import { extractIndexRows } from '../store/indexer.ts';
import { insertDeliveries, type NewDelivery } from './deliveries.ts';
import { needsPrevious, type TriggerMatcher, type WriteEvent } from './matcher.ts';
import type { Candidate, SubscriptionRegistry } from './registry.ts';
import type { SubscriptionSpec } from './subscription-spec.ts';
import { isTopic } from './topics.ts';
import { WakeLoop } from './wake-loop.ts';
import { LOCKS } from '../db/locks.ts';

/** Advisory lock held by the node that reads the outbox (one reader per cluster keeps each resource's order). */
const LEADER_LOCK = LOCKS.outboxReader;
/** Outbox events handled per database transaction. */
const BATCH = 500;
/** How long the reader lets writes gather after a partial batch. */
const GATHER_MS = 10;
/** How often a node that is not the reader checks whether it can take over, and the reader polls without a wake-up. */
const POLL_MS = 1000;

/** Channels on which nodes tell each other about new work (NOTIFY, after commit). */
export const NOTIFY = {
  outbox: 'tributary_outbox',
  deliveries: 'tributary_deliveries',
  websocket: 'tributary_ws',
} as const;

/** What the reader needs from the rest of the subscription service. */
export interface FanoutDeps {
  databaseUrl: string;
  registry: SubscriptionRegistry;
  matcher: TriggerMatcher;
  logger: Logger;
  /** Reads a stored Subscription into its delivery form; undefined if it cannot be delivered (it is ignored). */
  readSpec(sub: Subscription): Promise<SubscriptionSpec | undefined>;
  /** Forgets cached topic definitions (a SubscriptionTopic was written). */
  topicsChanged(): void;
  /** Loads every stored Subscription (when this node becomes the reader). */
  loadAll(): Promise<Subscription[]>;
  /** Attempts before the dead letter for a subscription's notifications. */
  maxAttempts(spec: SubscriptionSpec): number;
  /** Notifications a subscription change itself causes (a topic subscription's handshake). */
  onChange?(spec: SubscriptionSpec | undefined, before: SubscriptionSpec | undefined): NewDelivery[];
  /** Called after a batch committed, with the subscriptions it queued notifications for. */
  onQueued?(subscriptionIds: Set<string>): void;
}

interface OutboxRow {
  seq: string;
  resource_type: string;
  id: string;
  version_id: string;
  action: WriteEvent['action'];
}

/**
 * Reads the transactional outbox and turns committed writes into notifications (`subscription_delivery` rows), in
 * commit order, exactly once: matching, inserting the notifications and deleting the outbox rows happen in one
 * database transaction, so a crash at any point either leaves the events in the outbox or has them queued — never
 * both, never neither. One node at a time is the reader (a session advisory lock; another node takes over within a
 * second when it dies), which keeps notifications about each resource in version order. Writes on this node wake it
 * at once (`wake`); writes on other nodes through NOTIFY.
 */
export class OutboxFanout {
  private leader?: pg.Client;
  private readonly loop = new WakeLoop();
  /** The Subscription versions the registry was built from, by id. */
  private readonly stored = new Map<string, Subscription>();

  constructor(private readonly deps: FanoutDeps) {}

  /** True while this node is the outbox reader. */
  get isReader(): boolean {
    return !!this.leader;
  }

  /** Starts trying to become the reader, and reading while it is. */
  start(): void {
    this.loop.start(() => this.round());
  }

  /** Signals that new outbox events may be there. */
  wake(): void {
    this.loop.wake();
  }

  /** Stops reading (after the batch in progress) and gives up the reader role. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.dropLeadership();
  }

  /** One round: become the reader if nobody is, then handle a batch; sleeps only when there was nothing to do. */
  private async round(): Promise<number> {
    try {
      if (!this.leader) await this.tryLead();
      const handled = this.leader ? await this.processBatch() : 0;
      // After a partial batch, let 10 ms of writes gather: a batch costs about the same for 1 event or 100.
      if (handled > 0 && handled < BATCH) await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
      if (handled > 0) return 0;
    } catch (err) {
      this.deps.logger.error({ err }, 'outbox reader failed; retrying');
      await this.dropLeadership();
    }
    return POLL_MS;
  }

  private async tryLead(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.deps.databaseUrl,
      application_name: 'tributary-outbox-reader',
    });
    client.on('error', () => {});
    await client.connect();
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_LOCK]);
    if (!rows[0].ok) {
      await client.end();
      return;
    }
    client.on('notification', () => this.wake());
    await client.query(`LISTEN ${NOTIFY.outbox}`);
    await this.reloadRegistry();
    this.leader = client;
    this.deps.logger.info({ subscriptions: this.deps.registry.size }, 'this node reads the subscription outbox');
  }

  /** Builds the registry from every stored Subscription (when this node becomes the reader). */
  private async reloadRegistry(): Promise<void> {
    this.deps.registry.clear();
    this.stored.clear();
    for (const sub of await this.deps.loadAll()) await this.apply(sub.id as string, sub);
  }

  /**
   * Reads every Subscription the reader knows again (a topic changed). From the versions it has seen, not from the
   * database: Subscriptions written later in the outbox must still be applied at their own event.
   */
  private async rereadSubscriptions(): Promise<void> {
    for (const [id, sub] of [...this.stored]) await this.apply(id, sub);
  }

  private async dropLeadership(): Promise<void> {
    const client = this.leader;
    this.leader = undefined;
    await client?.end().catch(() => {});
  }

  /** Handles one batch of outbox events in one transaction; returns how many there were. */
  private async processBatch(): Promise<number> {
    const client = this.leader as pg.Client;
    await client.query('BEGIN');
    try {
      const events = await this.takeEvents(client);
      if (events.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      const deliveries = await this.notificationsOf(client, events);
      const inserted = await insertDeliveries(client, deliveries);
      await client.query('COMMIT');
      this.deps.onQueued?.(new Set(inserted.map((d) => d.subscriptionId)));
      await this.announce(client, inserted);
      return events.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /**
   * Takes the next batch of outbox events (deleted in the caller's transaction, so a rollback puts them back), with
   * the written version of events on watched types (for a deletion: the version it deleted).
   */
  private async takeEvents(client: pg.ClientBase): Promise<WriteEvent[]> {
    const { rows } = await client.query<OutboxRow>({
      name: 'tributary-take-events',
      text: `WITH taken AS (DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT $1) RETURNING seq, resource_type, id, version_id, action)
       SELECT * FROM taken ORDER BY seq`,
      values: [BATCH],
    });
    const events: WriteEvent[] = rows.map((r) => ({
      seq: Number(r.seq),
      resourceType: r.resource_type,
      id: r.id,
      versionId: Number(r.version_id),
      action: r.action,
    }));
    const watched = events.filter(
      (e) =>
        e.resourceType === 'Subscription' || e.resourceType === 'Basic' || this.deps.registry.watches(e.resourceType),
    );
    await loadHistory(
      client,
      watched.flatMap((e): Wanted[] =>
        e.action !== 'delete'
          ? [[e, e.versionId, 'content']]
          : e.versionId > 1
            ? [[e, e.versionId - 1, 'previous']]
            : [],
      ),
    );
    return events;
  }

  /**
   * The notifications a batch causes, in event order. A write of a Subscription changes the registry before the
   * events after it are matched, so a subscription sees exactly the writes committed after its own.
   */
  private async notificationsOf(client: pg.ClientBase, events: WriteEvent[]): Promise<NewDelivery[]> {
    const out: NewDelivery[] = [];
    let segment: WriteEvent[] = [];
    const flush = async () => {
      out.push(...(await this.matchSegment(client, segment)));
      segment = [];
    };
    for (const event of events) {
      if (event.resourceType === 'Subscription') {
        await flush();
        const before = this.deps.registry.get(event.id);
        const after = await this.apply(event.id, event.content as Subscription | undefined);
        out.push(...(this.deps.onChange?.(after, before) ?? []));
        if (this.deps.registry.watches('Subscription')) segment.push(event);
      } else if (event.resourceType === 'Basic' && isTopicEvent(event)) {
        // A topic changed: the subscriptions on it are read again before the events after it are matched.
        await flush();
        this.deps.topicsChanged();
        await this.rereadSubscriptions();
        if (this.deps.registry.watches('Basic')) segment.push(event);
      } else if (this.deps.registry.watches(event.resourceType)) {
        segment.push(event);
      }
    }
    await flush();
    return out;
  }

  /** Updates the registry from a Subscription version (undefined: deleted); returns the new spec if it is usable. */
  private async apply(id: string, sub: Subscription | undefined): Promise<SubscriptionSpec | undefined> {
    if (sub) this.stored.set(id, sub);
    else this.stored.delete(id);
    const spec = sub && (await this.deps.readSpec(sub));
    if (spec) this.deps.registry.set(spec);
    else this.deps.registry.remove(id);
    if (sub && !spec)
      this.deps.logger.warn({ subscription: id }, 'a stored Subscription cannot be delivered; it is ignored');
    return spec;
  }

  private async matchSegment(client: pg.ClientBase, events: WriteEvent[]): Promise<NewDelivery[]> {
    if (events.length === 0) return [];
    const pairs: { event: WriteEvent; trigger: Candidate['trigger']; spec: SubscriptionSpec }[] = [];
    const previous: Wanted[] = [];
    for (const event of events) {
      const subject = event.content ?? event.previous;
      if (!subject) continue;
      event.rows = extractIndexRows(subject, { only: this.deps.registry.codesFor(event.resourceType) });
      for (const { spec, trigger } of this.deps.registry.candidates(event.resourceType, event.id, event.rows)) {
        pairs.push({ event, trigger, spec });
        if (!event.previous && event.versionId > 1 && needsPrevious(trigger, event))
          previous.push([event, event.versionId - 1, 'previous']);
      }
    }
    await loadHistory(client, previous);
    const results = await this.deps.matcher.match(pairs);
    const seen = new Set<string>();
    const out: NewDelivery[] = [];
    pairs.forEach(({ event, spec }, i) => {
      const key = `${spec.id}/${event.seq}`;
      if (!results[i] || seen.has(key)) return;
      seen.add(key);
      out.push({
        subscriptionId: spec.id,
        kind: 'event',
        channel: spec.channel,
        resourceType: event.resourceType,
        resourceId: event.id,
        versionId: event.versionId,
        action: event.action === 'patch' ? 'update' : event.action,
        maxAttempts: this.deps.maxAttempts(spec),
        delivered: spec.channel === 'websocket',
      });
    });
    // Event order across subscriptions is the outbox order; pairs were built per event, so `out` already is.
    return out;
  }

  /** Tells every node (this one included) what the batch queued. */
  private async announce(
    client: pg.ClientBase,
    inserted: { subscriptionId: string; channel: string }[],
  ): Promise<void> {
    if (inserted.some((d) => d.channel !== 'websocket'))
      await client.query(`SELECT pg_notify('${NOTIFY.deliveries}', '')`);
    const ws = [...new Set(inserted.filter((d) => d.channel === 'websocket').map((d) => d.subscriptionId))];
    if (ws.length === 0) return;
    const payload = JSON.stringify(ws);
    await client.query(`SELECT pg_notify('${NOTIFY.websocket}', $1)`, [payload.length < 7900 ? payload : '*']);
  }
}

/** Whether a Basic write is (or was) a SubscriptionTopic. */
function isTopicEvent(event: WriteEvent): boolean {
  const basic = (event.content ?? event.previous) as Basic | undefined;
  return basic ? isTopic(basic) : event.action === 'delete';
}

/** A version to load: the event, the version number, and which field of the event it goes to. */
type Wanted = [WriteEvent, number, 'content' | 'previous'];

/** Loads versions from history into their events, in one query. */
async function loadHistory(client: pg.ClientBase, wanted: Wanted[]): Promise<void> {
  if (wanted.length === 0) return;
  const { rows } = await client.query<{
    resource_type: string;
    id: string;
    version_id: string;
    content: string | null;
  }>(
    `SELECT h.resource_type, h.id, h.version_id, h.content FROM resource_history h
     JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS w(t, i, v) ON h.resource_type = w.t AND h.id = w.i AND h.version_id = w.v`,
    [wanted.map(([e]) => e.resourceType), wanted.map(([e]) => e.id), wanted.map(([, v]) => v)],
  );
  const byKey = new Map(rows.map((r) => [`${r.resource_type}/${r.id}/${r.version_id}`, r.content]));
  for (const [e, v, field] of wanted) {
    const content = byKey.get(`${e.resourceType}/${e.id}/${v}`);
    if (content) e[field] = JSON.parse(content) as Resource;
  }
}
