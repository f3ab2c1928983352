import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type pg from 'pg';
import { insertDeliveries } from '../../server/subscriptions/deliveries.ts';
import { SCHEDULE_PREFIX } from '../../server/subscriptions/worker.ts';

/** How far back start-up looks for a slot missed while the cluster was down. */
const CATCH_UP_WINDOW_MS = 8 * 24 * 3600_000;

/** A bot with a schedule. */
export interface ScheduledBot {
  name: string;
  schedule: string;
  maxAttempts: number;
}

/**
 * Runs scheduled bots once per slot across the cluster: every node has the cron task, and at each slot the first
 * node to advance the bot's `bot_schedule.last_slot` queues the run (a delivery row, so it is retried and audited
 * like any other); the others find the slot taken. At start-up, a slot missed while every node was down is run once
 * (only the latest one, not every missed slot). Schedules are in UTC.
 */
export class BotScheduler {
  private readonly tasks: ScheduledTask[] = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly kick: () => void,
  ) {}

  /** Starts the schedules (and catches up a missed slot of each). */
  async start(bots: ScheduledBot[]): Promise<void> {
    for (const bot of bots) {
      const task = cron.createTask(bot.schedule, (ctx) => this.claim(bot, slotOf(ctx.date), false), {
        timezone: 'Etc/UTC',
        name: `bot-${bot.name}`,
      });
      this.tasks.push(task);
      const missed = previousSlot(task, new Date());
      if (missed) await this.claim(bot, missed, true);
      await task.start();
    }
  }

  /** Stops the schedules. */
  async stop(): Promise<void> {
    for (const task of this.tasks.splice(0)) await task.destroy();
  }

  /**
   * Queues the run of one slot if no node has yet. A first start records the slot without running it (a new bot
   * has missed nothing).
   */
  private async claim(bot: ScheduledBot, slot: Date, catchingUp: boolean): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ fresh: boolean }>(
        `INSERT INTO bot_schedule AS s (bot, last_slot) VALUES ($1, $2) ON CONFLICT (bot) DO UPDATE SET last_slot = excluded.last_slot
         WHERE s.last_slot < excluded.last_slot RETURNING (xmax = 0) AS fresh`,
        [bot.name, slot],
      );
      const run = rows.length > 0 && !(catchingUp && rows[0].fresh);
      if (run) {
        await insertDeliveries(client, [
          {
            subscriptionId: `${SCHEDULE_PREFIX}${bot.name}`,
            kind: 'schedule',
            channel: 'bot',
            maxAttempts: bot.maxAttempts,
            dedupeKey: `${bot.name}@${slot.toISOString()}`,
          },
        ]);
      }
      await client.query('COMMIT');
      if (run) {
        this.logger.info({ bot: bot.name, slot: slot.toISOString(), catchingUp }, 'scheduled bot run queued');
        this.kick();
      }
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      this.logger.error({ err, bot: bot.name }, 'queuing a scheduled bot run failed');
    } finally {
      client.release();
    }
  }
}

/** A slot is the minute (or, for six-field patterns, the second) the cron fired for. */
function slotOf(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/** The latest slot of the schedule at or before `now` within the catch-up window, if any. */
export function previousSlot(task: Pick<ScheduledTask, 'match' | 'getPattern'>, now: Date): Date | undefined {
  const seconds = task.getPattern().trim().split(/\s+/).length === 6;
  const step = seconds ? 1000 : 60_000;
  let t = Math.floor(now.getTime() / step) * step;
  const stop = now.getTime() - (seconds ? 24 * 3600_000 : CATCH_UP_WINDOW_MS);
  for (; t >= stop; t -= step) if (task.match(new Date(t))) return new Date(t);
  return undefined;
}
