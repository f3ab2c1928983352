import cron from 'node-cron';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { startTestServer } from '../../test/harness.ts';
import { BotScheduler, previousSlot } from './scheduler.ts';

let server: Tributary;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const runs = async (bot: string) =>
  (
    await server.pool.query<{ key: string }>(
      `SELECT dedupe_key AS key FROM subscription_delivery WHERE subscription_id = $1 ORDER BY id`,
      [`schedule:${bot}`],
    )
  ).rows.map((r) => r.key);

describe('bot schedules', () => {
  it('finds the latest slot of a schedule at or before a time', () => {
    const task = cron.createTask('30 2 * * *', () => {}, { timezone: 'Etc/UTC' });
    expect(previousSlot(task, new Date('2026-12-01T10:00:00Z'))?.toISOString()).toBe('2026-12-01T02:30:00.000Z');
    expect(previousSlot(task, new Date('2026-12-01T01:00:00Z'))?.toISOString()).toBe('2026-11-30T02:30:00.000Z');
    expect(previousSlot(task, new Date('2026-12-01T02:30:00Z'))?.toISOString()).toBe('2026-12-01T02:30:00.000Z');
  });

  it('runs a slot missed while the cluster was down once, on one node; a new bot has missed nothing', async () => {
    const bot = { name: 'nightly', schedule: '0 2 * * *', maxAttempts: 3 };
    const missed = previousSlot(
      cron.createTask(bot.schedule, () => {}, { timezone: 'Etc/UTC' }),
      new Date(),
    ) as Date;
    // First start ever: the slot is recorded, nothing runs.
    const first = new BotScheduler(server.pool, log, () => {});
    await first.start([bot]);
    await first.stop();
    expect(await runs('nightly')).toEqual([]);
    // The cluster was down across a slot: put the last run before it.
    await server.pool.query(`UPDATE bot_schedule SET last_slot = $2::timestamptz - interval '1 day' WHERE bot = $1`, [
      'nightly',
      missed.toISOString(),
    ]);
    const nodes = [new BotScheduler(server.pool, log, () => {}), new BotScheduler(server.pool, log, () => {})];
    await Promise.all(nodes.map((n) => n.start([bot])));
    for (const n of nodes) await n.stop();
    expect(await runs('nightly')).toEqual([`nightly@${missed.toISOString()}`]);
  });
});
