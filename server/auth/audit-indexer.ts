import type { Resource } from '@medplum/fhirtypes';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Repository } from '../core/repository.ts';

/** Queued events made AuditEvent resources per database transaction. */
const BATCH = 500;
/** Event-loop utilisation (since the previous batch) under which the server counts as having time to spare. */
const SPARE_BELOW = 0.6;
/** When it has none, the share of its time the indexer works (it sleeps the rest), so the queue still moves. */
const BUSY_SHARE = 0.05;
/** Longest pause between two batches while saturated (saturation is looked at again after it). */
const MAX_PAUSE_MS = 1000;
/** How often an idle indexer looks for rows queued by other nodes (this node's own writes wake it at once). */
const POLL_MS = 2000;

/**
 * Turns the audit trail's queued events (table `audit_queue`) into AuditEvent resources of the store, in batches:
 * each batch takes rows with `FOR UPDATE SKIP LOCKED`, creates them through the repository (resource, history,
 * search index rows, outbox: an ordinary AuditEvent, searchable and subscribable like any other) and deletes them in
 * the same transaction, so every event is indexed exactly once whichever node (or restart) gets to it.
 * This is the costly part of an AuditEvent (FHIRPath index extraction, ~16 rows and their index entries), kept off
 * the requests: it runs flat out while the event loop has time to spare, and `BUSY_SHARE` of the time while the
 * server is saturated, so that under a burst the queue grows and is worked off afterwards.
 * Hand-written: a paced loop over one table, where a job runner (server/jobs) would add a job row per batch.
 */
export class AuditEventIndexer {
  private utilisation = performance.eventLoopUtilization();
  private stopped = false;
  private running?: Promise<void>;
  /** The loop's wait: `idle` when the queue was empty (new rows end it), else pacing (it runs out). */
  private sleeping?: { timer: NodeJS.Timeout; resolve: () => void; idle: boolean };
  /** AuditEvents this node indexed. */
  indexed = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly repo: Repository,
    private readonly logger: Logger,
    /** The AuditEvent of a queued row's content. */
    private readonly build: (content: string) => Resource,
  ) {}

  /** Rows were queued: starts the loop, or ends its idle wait. */
  wake(): void {
    if (this.stopped) return;
    this.running ??= this.loop();
    if (this.sleeping?.idle) this.interrupt();
  }

  /**
   * Indexes queued rows until none is left (or `maxMs` passed), whatever the pace; batches other calls have taken
   * (SKIP LOCKED hides their rows) are waited for.
   */
  async indexAll(maxMs = Infinity): Promise<void> {
    const until = performance.now() + maxMs;
    while ((await this.indexBatch()) > 0 && performance.now() < until);
    await Promise.all(this.inFlight);
  }

  /** Number of events queued and not yet indexed. */
  async backlog(): Promise<number> {
    return Number((await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_queue')).rows[0].n);
  }

  /** Stops the loop after its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.interrupt();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = performance.now();
      const n = await this.indexBatch();
      if (this.stopped) break;
      if (n === 0) {
        await this.sleep(POLL_MS, true);
      } else if (this.saturated()) {
        // Capped: on a machine slowed by other work a batch's wall time is long, and the wait must not outlast the load.
        await this.sleep(Math.min(MAX_PAUSE_MS, ((performance.now() - started) * (1 - BUSY_SHARE)) / BUSY_SHARE));
      } else {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Whether the event loop was busier than SPARE_BELOW since the last call. */
  private saturated(): boolean {
    const now = performance.eventLoopUtilization();
    const since = performance.eventLoopUtilization(now, this.utilisation);
    this.utilisation = now;
    return since.utilization >= SPARE_BELOW;
  }

  /** Batches being indexed on this node. */
  private readonly inFlight = new Set<Promise<number>>();

  /** One batch in one transaction; returns how many events it indexed (0 on failure, logged). */
  private indexBatch(): Promise<number> {
    const batch = this.takeAndIndex().finally(() => this.inFlight.delete(batch));
    this.inFlight.add(batch);
    return batch;
  }

  private async takeAndIndex(): Promise<number> {
    try {
      const n = await this.repo.transaction(async (repo) => {
        const { rows } = await repo.queryable.query<{ id: string; content: string }>({
          name: 'tributary-audit-take',
          text: `DELETE FROM audit_queue WHERE seq IN
                   (SELECT seq FROM audit_queue ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING id, content`,
          values: [BATCH],
        });
        for (const row of rows) {
          let event: Resource;
          try {
            event = this.build(row.content);
          } catch (err) {
            // A row no AuditEvent can be made of would fail every batch it is in: logged (with its text) and dropped.
            this.logger.error({ err, id: row.id, content: row.content.slice(0, 2000) }, 'unreadable audit queue row');
            continue;
          }
          await repo.create(event, { id: row.id });
        }
        return rows.length;
      });
      this.indexed += n;
      return n;
    } catch (err) {
      this.logger.error({ err }, 'indexing AuditEvents failed');
      return 0;
    }
  }

  private sleep(ms: number, idle = false): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.sleeping = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.sleeping = { timer, resolve, idle };
    });
  }

  private interrupt(): void {
    const s = this.sleeping;
    if (!s) return;
    this.sleeping = undefined;
    clearTimeout(s.timer);
    s.resolve();
  }
}
