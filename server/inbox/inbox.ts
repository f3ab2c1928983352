import type { OperationOutcome, Parameters } from '@medplum/fhirtypes';
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { conflict, OutcomeError, outcome } from '../fhir/outcomes.ts';
import type { JobRunner } from '../jobs/runner.ts';
import type { Job, JobContext } from '../jobs/types.ts';
import {
  deleteMessages,
  findMessage,
  insertMessage,
  listMessages,
  resetMessages,
  setFailed,
  setProcessed,
  type InboxFilter,
  type InboxMessage,
  type InboxSource,
  type StoredMessage,
} from './store.ts';

/** How a door turns one stored message into FHIR: throws (an OutcomeError, ideally) when it cannot. */
export interface DoorProcessor {
  /** Processes a message; what it returns is kept as the message's result. Must be idempotent (replays run it again). */
  process(message: StoredMessage): Promise<unknown>;
  /** Failed attempts before a message goes to the dead letter (default 5). */
  maxAttempts?: number;
}

/** Statuses of an OutcomeError that say "try again" although they are 4xx. */
const TRANSIENT_4XX = new Set([408, 409, 429]);
const DEFAULT_MAX_ATTEMPTS = 5;
/** Job kind of replays, per door: only nodes where the door runs claim them. */
const replayKind = (door: string) => `inbox-replay:${door}`;

/** Input of a replay job: the messages to process again, in order. */
interface ReplayInput {
  ids: number[];
}

/**
 * The inbox and dead letter of the ingest doors (HL7v2, MQTT, EHR pull). A door stores each message raw with
 * `receive` before it acknowledges it (idempotent per source and dedup key), processes it with `process`, and answers
 * the sender from the outcome. Failed and dead messages are replayed on the job runner. Design: server/inbox/README.md.
 */
export class Inbox {
  private readonly doors = new Map<string, Required<DoorProcessor>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly jobs: JobRunner,
    private readonly logger: Logger,
  ) {}

  /** Registers the processor of a door's messages (and the replay jobs of that door, on this node). */
  registerDoor(door: string, processor: DoorProcessor): void {
    this.doors.set(door, { process: processor.process, maxAttempts: processor.maxAttempts ?? DEFAULT_MAX_ATTEMPTS });
    this.jobs.register<ReplayInput>(replayKind(door), { run: (ctx) => this.runReplay(ctx), timeoutMs: 0 });
  }

  /**
   * Stores a received message. The same `dedupKey` from the same source again (a retransmission) returns the stored
   * message with `duplicate: true` and stores nothing new. Without a key (undefined), the payload's SHA-256 is the key.
   */
  async receive(
    source: InboxSource,
    dedupKey: string | undefined,
    payload: Buffer | string,
    contentType?: string,
  ): Promise<{ message: InboxMessage; duplicate: boolean }> {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    const key = dedupKey ?? createHash('sha256').update(bytes).digest('hex');
    return insertMessage(this.pool, source, key, bytes, contentType);
  }

  /**
   * Runs the door's processor on a stored message and records the outcome: processed, failed, or dead (an OutcomeError
   * of 4xx other than 408/409/429 is permanent; otherwise after the door's attempts). Returns the message afterwards.
   */
  async process(id: number): Promise<InboxMessage | undefined> {
    const message = await findMessage(this.pool, id);
    if (!message) return undefined;
    const door = this.doors.get(message.door);
    if (!door)
      return this.markFailed(
        id,
        outcome('error', 'not-supported', `The door "${message.door}" does not run on this node`),
        { permanent: true },
      );
    let result: unknown;
    try {
      result = await door.process(message);
    } catch (err) {
      const known = err instanceof OutcomeError ? err : undefined;
      const failure = known?.outcome ?? outcome('error', 'exception', (err as Error)?.message ?? String(err));
      return this.markFailed(id, failure, {
        permanent: !!known && known.status < 500 && !TRANSIENT_4XX.has(known.status),
      });
    }
    return this.markProcessed(id, result);
  }

  /** Records that a message was processed (for doors that process without `process`). */
  markProcessed(id: number, result?: unknown): Promise<InboxMessage | undefined> {
    return setProcessed(this.pool, id, result);
  }

  /** Records a failed attempt with its OperationOutcome; `permanent` sends the message to the dead letter at once. */
  async markFailed(
    id: number,
    error: OperationOutcome,
    options: { permanent?: boolean } = {},
  ): Promise<InboxMessage | undefined> {
    const message = await findMessage(this.pool, id);
    const maxAttempts = (message && this.doors.get(message.door)?.maxAttempts) ?? DEFAULT_MAX_ATTEMPTS;
    const after = await setFailed(this.pool, id, error, !!options.permanent, maxAttempts);
    if (after?.state === 'dead')
      this.logger.warn(
        { inbox: id, door: after.door, reason: error.issue?.[0]?.diagnostics },
        'inbox message dead-lettered',
      );
    return after;
  }

  /**
   * Replays messages: sets them back to `received` with fresh attempts and queues one job per door that processes them
   * again in order. All or nothing: a door that does not run on this node refuses the whole replay (409).
   */
  async replay(filter: InboxFilter): Promise<{ messages: number; jobs: Job[] }> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const reset = await resetMessages(client, filter);
      const byDoor = new Map<string, number[]>();
      for (const m of reset) byDoor.set(m.door, [...(byDoor.get(m.door) ?? []), m.id]);
      const jobs: Job[] = [];
      for (const [door, ids] of byDoor) {
        if (!this.doors.has(door))
          throw conflict(`The door "${door}" does not run on this node: its messages cannot be replayed here`);
        jobs.push(await this.jobs.enqueue<ReplayInput>(replayKind(door), { ids }, { total: ids.length, db: client }));
      }
      await client.query('COMMIT');
      return { messages: reset.length, jobs };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => (broken = true));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** A message with its payload. */
  get(id: number): Promise<StoredMessage | undefined> {
    return findMessage(this.pool, id);
  }

  /** Messages matching a filter, newest first (paged by id). */
  list(filter: InboxFilter, limit: number, belowId?: number): Promise<InboxMessage[]> {
    return listMessages(this.pool, filter, limit, belowId);
  }

  /** Deletes matching messages; returns how many. */
  purge(filter: InboxFilter): Promise<number> {
    return deleteMessages(this.pool, filter);
  }

  /** The replay job: processes its messages in order, saving where it got to after each. */
  private async runReplay(ctx: JobContext<ReplayInput>): Promise<Parameters> {
    const { ids } = ctx.job.input;
    const start = (ctx.job.checkpoint as { next?: number } | null)?.next ?? 0;
    let processed = 0;
    let failed = 0;
    for (let i = start; i < ids.length; i++) {
      ctx.signal.throwIfAborted();
      const after = await this.process(ids[i]);
      if (after?.state === 'processed') processed++;
      else if (after) failed++;
      await ctx.progress({ done: i + 1, total: ids.length, checkpoint: { next: i + 1 } });
    }
    return {
      resourceType: 'Parameters',
      parameter: [
        { name: 'replayed', valueInteger: ids.length - start },
        { name: 'processed', valueInteger: processed },
        { name: 'failed', valueInteger: failed },
      ],
    };
  }
}
