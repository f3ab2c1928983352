import type pg from 'pg';
import { insertDeliveries, type NewDelivery } from './deliveries.ts';
import type { SubscriptionRegistry } from './registry.ts';
import type { SubscriptionSpec } from './subscription-spec.ts';

/** How often idle subscriptions are checked. */
const TICK_MS = 1000;

/**
 * Heartbeats of topic-based rest-hook subscriptions (backport `heartbeatPeriod`): the outbox reader queues a
 * heartbeat notification for each such subscription that has had nothing sent for its period. Websocket bindings
 * send their own (websocket.ts).
 */
export class Heartbeats {
  private readonly lastSent = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly pool: pg.Pool,
    private readonly registry: SubscriptionRegistry,
    private readonly isReader: () => boolean,
    private readonly maxAttempts: (spec: SubscriptionSpec) => number,
    private readonly onQueued: () => void,
  ) {}

  /** Notes that notifications were queued for these subscriptions (they count as activity). */
  queued(subscriptionIds: Iterable<string>): void {
    const now = Date.now();
    for (const id of subscriptionIds) this.lastSent.set(id, now);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick().catch(() => {}), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (!this.isReader()) return;
    const now = Date.now();
    const due: NewDelivery[] = [];
    for (const spec of this.registry.all()) {
      if (!spec.topic || spec.channel !== 'rest-hook' || !spec.heartbeatSeconds || spec.status === 'off') continue;
      const last = this.lastSent.get(spec.id);
      if (last === undefined) this.lastSent.set(spec.id, now);
      else if (now - last >= spec.heartbeatSeconds * 1000)
        due.push({
          subscriptionId: spec.id,
          kind: 'heartbeat',
          channel: 'rest-hook',
          maxAttempts: this.maxAttempts(spec),
        });
    }
    if (due.length === 0) return;
    const client = await this.pool.connect();
    try {
      await insertDeliveries(client, due);
    } finally {
      client.release();
    }
    this.queued(due.map((d) => d.subscriptionId));
    this.onQueued();
  }
}
