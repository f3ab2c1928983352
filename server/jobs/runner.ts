import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { OutcomeError, outcome } from '../fhir/outcomes.ts';
import type { JobConfig } from './config.ts';
import {
  buryAbandoned,
  cancelJob,
  claimJobs,
  completeJob,
  deleteFinishedJob,
  failJob,
  findJob,
  insertJob,
  JOBS_CHANNEL,
  listJobs,
  nextDueAt,
  purgeFinishedJobs,
  releaseJobs,
  renewLeases,
  requeueJob,
  saveProgress,
  sessionIdentity,
  type Failure,
} from './store.ts';
import type { Door, DoorStatus } from '../core/door.ts';
import type { Job, JobContext, JobKind, JobState } from './types.ts';

/** How long a claim lasts without renewal; renewed every third of it while the job runs. */
const LEASE_MS = 30_000;
/** Longest sleep between rounds: how soon a node notices work nobody told it about (a dead node's jobs). */
const POLL_MS = 1000;
const DEFAULT_TIMEOUT_MS = 3600_000;
/** How long `stop` waits for interrupted handlers before giving their jobs back anyway. */
const STOP_GRACE_MS = 5000;
const PURGE_MS = 3600_000;
/** Statuses that say "try again" although they are 4xx. */
const TRANSIENT_4XX = new Set([408, 409, 429]);

/** Why the runner interrupted a job (as opposed to the job failing by itself). */
export class JobInterrupted extends Error {
  constructor(
    readonly why: 'cancelled' | 'lost' | 'timeout' | 'shutdown',
    message: string,
  ) {
    super(message);
    this.name = 'JobInterrupted';
  }
}

/** What the runner needs. */
export interface JobRunnerDeps {
  pool: pg.Pool;
  /** For the node's own session: its identity owns the leases, and it LISTENs for new and cancelled jobs. */
  databaseUrl: string;
  logger: Logger;
  config: JobConfig;
}

type Registered = Required<JobKind>;

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

/**
 * The node's one job loop, for every kind of background work. Handlers register by kind; the loop claims due jobs of
 * the registered kinds up to the node's concurrency (SKIP LOCKED, so nodes share the queue without waiting on each
 * other), runs them, and records success, a retry after exponential backoff with jitter, or the dead letter. Leases
 * are owned by the node's own database session: when a node dies, its jobs are taken over by another node within a
 * poll (POLL_MS) and resume from their last checkpoint. Whatever a superseded run does later is discarded, because
 * every write of progress or outcome is fenced by the lease owner. Design: server/jobs/README.md.
 */
export class JobRunner implements Door<unknown> {
  readonly name = 'jobs';
  private readonly kinds = new Map<string, Registered>();
  private readonly running = new Map<string, Running>();
  private session?: pg.Client;
  private reconnecting = false;
  private owner = '';
  private stopped = true;
  private loop?: Promise<void>;
  private woken = false;
  private sleeping?: AbortController;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly deps: JobRunnerDeps) {}

  /** Registers the handler of a kind of job (with its attempts and timeout); this node then runs jobs of that kind. */
  register<I>(kind: string, def: JobKind<I>): this {
    this.kinds.set(kind, {
      run: def.run as Registered['run'],
      maxAttempts: def.maxAttempts ?? this.deps.config.maxAttempts,
      timeoutMs: def.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    this.wake();
    return this;
  }

  /**
   * Queues a job of a registered kind. With `db` a client in a transaction, the job is queued in that transaction, so
   * it exists exactly when the caller's work commits (nodes hear of it then).
   */
  async enqueue<I>(
    kind: string,
    input: I,
    options: { requester?: string; total?: number; db?: pg.Pool | pg.ClientBase } = {},
  ): Promise<Job<I>> {
    const def = this.kinds.get(kind);
    if (!def) throw new Error(`No job kind "${kind}" is registered`);
    const job = await insertJob(options.db ?? this.deps.pool, {
      kind,
      input,
      maxAttempts: def.maxAttempts,
      requester: options.requester,
      total: options.total,
    });
    this.wake();
    return job as Job<I>;
  }

  /** A job by id, or undefined. */
  get(id: string): Promise<Job | undefined> {
    return findJob(this.deps.pool, id);
  }

  /** Cancels a queued or running job; returns it afterwards (a finished one unchanged), undefined if unknown. */
  cancel(id: string): Promise<Job | undefined> {
    return cancelJob(this.deps.pool, id);
  }

  /** Deletes a finished job; false while it is queued or running (or unknown). */
  forget(id: string): Promise<boolean> {
    return deleteFinishedJob(this.deps.pool, id);
  }

  /** Requeues a dead or failed job with fresh attempts; undefined when there is no such job in those states. */
  requeue(id: string): Promise<Job | undefined> {
    return requeueJob(this.deps.pool, id);
  }

  /** Jobs, newest first (admin API). */
  list(filter: {
    kind?: string;
    state?: JobState;
    limit: number;
    before?: { createdAt: string; id: string };
  }): Promise<Job[]> {
    return listJobs(this.deps.pool, filter);
  }

  /** The runner's state for `/healthz`: up while its loop runs. */
  status(): DoorStatus {
    return { name: this.name, state: this.stopped ? 'down' : 'up' };
  }

  /** Connects the node's session and starts the loop. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
    this.loop = this.runLoop();
    this.timers.push(
      setInterval(() => void this.renew(), LEASE_MS / 3).unref(),
      setInterval(() => void this.purge(), PURGE_MS).unref(),
    );
    void this.purge();
  }

  /** Stops claiming, interrupts the jobs in flight and gives them back to the queue for another node (or restart). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
    for (const t of this.timers) clearInterval(t);
    for (const r of this.running.values()) r.controller.abort(new JobInterrupted('shutdown', 'The node is stopping'));
    const settled = Promise.allSettled([...this.running.values()].map((r) => r.done));
    await Promise.race([settled, sleep(STOP_GRACE_MS)]);
    if (this.owner)
      await releaseJobs(this.deps.pool, this.owner).catch((err) =>
        this.deps.logger.error({ err }, 'giving jobs back failed'),
      );
    await this.session?.end().catch(() => {});
  }

  /** Ends the current sleep of the loop (new work may be there). */
  private wake(): void {
    this.woken = true;
    this.sleeping?.abort();
  }

  /**
   * Opens the node's session: LISTEN for new jobs (wake up) and cancellations (interrupt), and the lease identity.
   * While it is being opened and after, only the current session's events count.
   */
  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.deps.databaseUrl, application_name: 'tributary-jobs' });
    client.on('error', (err) => this.sessionLost(client, err));
    client.on('end', () => this.sessionLost(client));
    client.on('notification', (n) => {
      const [what, id] = (n.payload ?? '').split(':');
      if (what === 'new') this.wake();
      else if (what === 'cancel')
        this.running.get(id)?.controller.abort(new JobInterrupted('cancelled', 'The job was cancelled'));
    });
    this.session = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${JOBS_CHANNEL}`);
      this.owner = await sessionIdentity(client);
    } catch (err) {
      if (this.session === client) this.session = undefined;
      void client.end().catch(() => {});
      throw err;
    }
    this.wake();
  }

  /**
   * The session dropped: this node's leases are no longer vouched for, so its running jobs are interrupted (another
   * node, or this one, takes them over from their checkpoints) and the session is reopened.
   */
  private sessionLost(client: pg.Client, err?: Error): void {
    if (this.session !== client || this.stopped) return;
    this.session = undefined;
    this.owner = '';
    this.deps.logger.error({ err }, 'job runner session lost; reconnecting');
    for (const r of this.running.values())
      r.controller.abort(new JobInterrupted('lost', 'The node lost its database session'));
    void client.end().catch(() => {});
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      while (!this.stopped && !this.session) {
        await sleep(POLL_MS);
        await this.connect().catch((err) => this.deps.logger.warn({ err }, 'job runner session: reconnecting failed'));
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private async runLoop(): Promise<void> {
    while (!this.stopped) {
      const ms = await this.round();
      if (ms > 0 && !this.stopped) await this.sleep(ms);
    }
  }

  private async sleep(ms: number): Promise<void> {
    if (!this.woken) {
      this.sleeping = new AbortController();
      await sleep(ms, undefined, { signal: this.sleeping.signal }).catch(() => {});
      this.sleeping = undefined;
    }
    this.woken = false;
  }

  /** Claims what this node has room for; returns how long to sleep (woken earlier by NOTIFY or a finished job). */
  private async round(): Promise<number> {
    const kinds = [...this.kinds.keys()];
    const owner = this.owner;
    if (!owner || kinds.length === 0) return POLL_MS;
    try {
      const buried = await buryAbandoned(this.deps.pool, kinds);
      if (buried.length > 0)
        this.deps.logger.warn({ jobs: buried }, 'jobs dead-lettered: their last attempt was abandoned');
      const free = this.deps.config.concurrency - this.running.size;
      if (free <= 0) return POLL_MS;
      const claimed = await claimJobs(this.deps.pool, kinds, free, owner, LEASE_MS);
      for (const job of claimed) this.launch(job, owner);
      if (claimed.length === free) return POLL_MS;
      const due = await nextDueAt(this.deps.pool, kinds);
      // never below 50 ms: a due job may be held by another node's claim in progress
      return due === undefined ? POLL_MS : Math.min(POLL_MS, Math.max(50, due - Date.now()));
    } catch (err) {
      this.deps.logger.error({ err }, 'claiming jobs failed');
      return POLL_MS;
    }
  }

  private launch(job: Job, owner: string): void {
    const def = this.kinds.get(job.kind) as Registered;
    const controller = new AbortController();
    const timer =
      def.timeoutMs > 0
        ? setTimeout(() => {
            const reason = new JobInterrupted('timeout', `The attempt ran longer than ${def.timeoutMs} ms`);
            controller.abort(reason);
            void this.recordFailure(job, owner, reason);
          }, def.timeoutMs)
        : undefined;
    const done = this.execute(job, def, controller, owner).finally(() => {
      clearTimeout(timer);
      this.running.delete(job.id);
      this.wake();
    });
    this.running.set(job.id, { controller, done });
  }

  private async execute(job: Job, def: Registered, controller: AbortController, owner: string): Promise<void> {
    const { pool, logger } = this.deps;
    const ctx: JobContext = {
      job,
      signal: controller.signal,
      pool,
      progress: async (p, client) => {
        if (!(await saveProgress(client ?? pool, job.id, owner, p)))
          throw new JobInterrupted('lost', 'The job was cancelled or taken over');
      },
      transaction: (fn) => inTransaction(pool, fn),
    };
    try {
      const result = await def.run(ctx);
      // Interrupted (cancelled, lost, timed out, stopping): a handler that returns early has not finished the job.
      if (controller.signal.aborted) return;
      if (!(await completeJob(pool, job.id, owner, result ?? undefined)))
        logger.info({ job: job.id }, 'a superseded job run finished; its result is dropped');
    } catch (err) {
      if (controller.signal.aborted || err instanceof JobInterrupted) return;
      await this.recordFailure(job, owner, err);
    }
  }

  /** Records a failed attempt: retried after the backoff, failed for good (bad input), or dead. */
  private async recordFailure(job: Job, owner: string, err: unknown): Promise<void> {
    const failure = this.failureOf(err, job.attempts);
    try {
      const state = await failJob(this.deps.pool, job.id, owner, failure);
      if (state === 'dead' || state === 'failed') {
        this.deps.logger.warn(
          { job: job.id, kind: job.kind, attempts: job.attempts, reason: (err as Error)?.message },
          `job ${state}`,
        );
      }
    } catch (recordErr) {
      // The lease runs out and the job is taken over: nothing is lost.
      this.deps.logger.error({ err: recordErr }, 'recording a failed job failed');
    }
  }

  private failureOf(err: unknown, attempts: number): Failure {
    const { retryBaseMs, retryMaxMs } = this.deps.config;
    // Exponential backoff with equal jitter: half the delay fixed, half random.
    const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.max(0, attempts - 1));
    const retryInMs = Math.round(delay / 2 + Math.random() * (delay / 2));
    if (err instanceof OutcomeError) {
      const permanent = err.status >= 400 && err.status < 500 && !TRANSIENT_4XX.has(err.status);
      return { outcome: err.outcome, status: err.status, permanent, retryInMs };
    }
    if (err instanceof JobInterrupted)
      return { outcome: outcome('error', 'timeout', err.message), status: 500, permanent: false, retryInMs };
    return {
      outcome: outcome('error', 'exception', (err as Error)?.message ?? String(err)),
      status: 500,
      permanent: false,
      retryInMs,
    };
  }

  /** Extends this node's leases; interrupts the jobs it no longer holds (cancelled, or taken over). */
  private async renew(): Promise<void> {
    const ids = [...this.running.keys()];
    if (!this.owner || ids.length === 0) return;
    const held = await renewLeases(this.deps.pool, ids, this.owner, LEASE_MS).catch(() => undefined);
    if (!held) return;
    for (const id of ids)
      if (!held.has(id))
        this.running.get(id)?.controller.abort(new JobInterrupted('lost', 'The job was cancelled or taken over'));
  }

  private async purge(): Promise<void> {
    await purgeFinishedJobs(this.deps.pool, this.deps.config.retentionDays).catch((err) =>
      this.deps.logger.error({ err }, 'purging finished jobs failed'),
    );
  }
}

/** Runs `fn` in one transaction on a pooled connection. */
async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => (broken = true));
    throw err;
  } finally {
    client.release(broken);
  }
}
