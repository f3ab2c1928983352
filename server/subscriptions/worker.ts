import type { Logger } from 'pino';
import type pg from 'pg';
import {
  claimDue,
  markCancelled,
  markDelivered,
  markFailed,
  nextDueAt,
  type Delivery,
  type DeliveryStatus,
} from './deliveries.ts';
import type { SubscriptionSpec } from './subscription-spec.ts';
import { WakeLoop } from './wake-loop.ts';

/** Prefix of the `subscription_id` of a scheduled bot run (it has no Subscription). */
export const SCHEDULE_PREFIX = 'schedule:';

/** Thrown by a sender for a notification that must not be sent at all (e.g. its bot is disabled): it is cancelled. */
export class SkipDelivery extends Error {}

/** Sends one notification; throws (with a reason) when it did not get through. */
export type Send = (delivery: Delivery, spec: SubscriptionSpec | undefined) => Promise<void>;

/** What the worker needs. */
export interface WorkerDeps {
  pool: pg.Pool;
  logger: Logger;
  /** Notifications in flight at once on this node. */
  concurrency: number;
  /** How long a claim lasts: longer than any send may take (rest-hook timeout, bot timeout). */
  leaseMs: number;
  /** The lease owner (deliveries.ts leaseOwner) of this node's session. */
  owner(): string;
  retryBaseMs: number;
  retryMaxMs: number;
  /** The current form of these Subscriptions (undefined: deleted or no longer deliverable). */
  loadSpecs(ids: string[]): Promise<Map<string, SubscriptionSpec | undefined>>;
  /** Senders by channel. */
  send: { 'rest-hook': Send; websocket: Send; bot: Send };
  /** Called after each attempt (the service keeps Subscription.status in step: error after a dead letter). */
  onOutcome?(
    spec: SubscriptionSpec | undefined,
    delivery: Delivery,
    status: DeliveryStatus,
    error?: string,
  ): Promise<void>;
}

/**
 * Delivers queued notifications: claims due rows (claimDue: leased, in order per resource, shared between nodes with
 * SKIP LOCKED), sends each through its channel, and records the outcome — delivered, retried after an exponential
 * backoff with jitter, or dead-lettered once the row has used its attempts.
 */
export class DeliveryWorker {
  private readonly active = new Set<Promise<void>>();
  private readonly loop = new WakeLoop();

  constructor(private readonly deps: WorkerDeps) {}

  /** Starts the claim loop. */
  start(): void {
    this.loop.start(() => this.round());
  }

  /** Signals that notifications may be due (new rows, a finished send). */
  kick(): void {
    this.loop.wake();
  }

  /** Stops claiming and waits for the sends in flight. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.allSettled([...this.active]);
  }

  /** Claims what this node has room for; sleeps until the next row is due, a send ends, or new rows come. */
  private async round(): Promise<number> {
    let claimed = 0;
    const free = this.deps.concurrency - this.active.size;
    try {
      if (free > 0) claimed = await this.claim(free);
    } catch (err) {
      this.deps.logger.error({ err }, 'claiming notifications failed');
    }
    if (claimed > 0 && claimed === free) return 0;
    // Never less than 50 ms: a due row may be held back behind an earlier one of its resource (a send ends with a kick).
    return claimed > 0 || free <= 0 ? 1000 : Math.max(50, await this.msToNextDue());
  }

  private async claim(limit: number): Promise<number> {
    const rows = await claimDue(this.deps.pool, limit, this.deps.leaseMs, this.deps.owner());
    if (rows.length === 0) return 0;
    const specs = await this.deps.loadSpecs([
      ...new Set(rows.filter((r) => !r.subscriptionId.startsWith(SCHEDULE_PREFIX)).map((r) => r.subscriptionId)),
    ]);
    for (const row of rows) {
      const task = this.deliver(row, specs.get(row.subscriptionId)).finally(() => {
        this.active.delete(task);
        this.kick();
      });
      this.active.add(task);
    }
    return rows.length;
  }

  private async msToNextDue(): Promise<number> {
    const at = await nextDueAt(this.deps.pool).catch(() => undefined);
    return at === undefined ? 1000 : Math.min(1000, Math.max(0, at - Date.now()));
  }

  private async deliver(row: Delivery, spec: SubscriptionSpec | undefined): Promise<void> {
    const scheduled = row.subscriptionId.startsWith(SCHEDULE_PREFIX);
    try {
      if (!scheduled && (!spec || spec.status === 'off')) {
        await markCancelled(
          this.deps.pool,
          row.id,
          spec ? 'the subscription is off' : 'the subscription no longer exists',
        );
        return;
      }
      await this.deps.send[scheduled ? 'bot' : (spec as SubscriptionSpec).channel](row, spec);
      await markDelivered(this.deps.pool, row.id);
      await this.deps.onOutcome?.(spec, row, 'delivered');
    } catch (err) {
      const reason = (err as Error).message ?? String(err);
      if (err instanceof SkipDelivery) {
        await markCancelled(this.deps.pool, row.id, reason).catch(() => {});
        return;
      }
      try {
        const status = await markFailed(this.deps.pool, row.id, reason, this.backoff(row.attempts));
        if (status === 'dead')
          this.deps.logger.warn(
            { subscription: row.subscriptionId, event: row.eventNumber, reason },
            'notification dead-lettered',
          );
        await this.deps.onOutcome?.(spec, row, status, reason);
      } catch (recordErr) {
        // The lease runs out and another attempt is made: nothing is lost.
        this.deps.logger.error({ err: recordErr }, 'recording a failed notification failed');
      }
    }
  }

  /** Exponential backoff with equal jitter: half the delay fixed, half random. */
  private backoff(attempts: number): number {
    const delay = Math.min(this.deps.retryMaxMs, this.deps.retryBaseMs * 2 ** Math.max(0, attempts - 1));
    return Math.round(delay / 2 + Math.random() * (delay / 2));
  }
}
