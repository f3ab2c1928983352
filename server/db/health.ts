import pg from 'pg';
import type { Logger } from 'pino';
import { databaseUnavailableCause } from '../fhir/outcomes.ts';

/** Whether the database answers, and why not. */
export interface DatabaseHealth {
  up: boolean;
  /** Why it is down (the connection error), when it is. */
  reason?: string;
  /** When the state last changed. */
  since: string;
}

/** Options of the database monitor. */
export interface MonitorOptions {
  /** Pause between two probes while the connection is up. */
  intervalMs: number;
  /** A probe (connect or `SELECT 1`) slower than this counts as a failure. */
  timeoutMs: number;
  /** Pause before connecting again after a failure. */
  retryMs: number;
}

const DEFAULTS: MonitorOptions = { intervalMs: 2000, timeoutMs: 3000, retryMs: 500 };

/**
 * Watches the database over one connection of its own, so that `/healthz` can answer from memory: the state turns
 * to down the moment that connection drops (the server stopped, the backend was terminated) or a probe fails or
 * takes longer than `timeoutMs`, and back to up as soon as a new connection answers `SELECT 1`. A pool connection
 * is not used for this: under load the probe would queue behind requests and report a busy database as down.
 */
export class DatabaseMonitor {
  private health: DatabaseHealth = { up: true, since: new Date().toISOString() };
  private client?: pg.Client;
  private closed = false;
  private wake?: () => void;
  private loop?: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly options: MonitorOptions = DEFAULTS,
  ) {}

  /** The last known state. */
  get state(): DatabaseHealth {
    return this.health;
  }

  /** Starts watching (the database is assumed up: the server has just migrated it). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops watching and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.client?.end().catch(() => {});
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const client = new pg.Client({
        connectionString: this.url,
        application_name: 'tributary-health',
        connectionTimeoutMillis: this.options.timeoutMs,
        query_timeout: this.options.timeoutMs,
        keepAlive: true,
      });
      this.client = client;
      let lost: string | undefined;
      client.on('error', (err) => {
        lost ??= describe(err);
        this.wake?.();
      });
      client.on('end', () => {
        lost ??= 'the connection to the database was closed';
        this.wake?.();
      });
      try {
        await client.connect();
        while (!this.closed && lost === undefined) {
          await client.query('SELECT 1');
          this.set(true);
          await this.sleep(this.options.intervalMs);
        }
        if (lost !== undefined) this.set(false, lost);
      } catch (err) {
        this.set(false, lost ?? describe(err));
      }
      await client.end().catch(() => {});
      if (!this.closed) await this.sleep(this.options.retryMs);
    }
  }

  private set(up: boolean, reason?: string): void {
    if (this.closed) return;
    const changed = up !== this.health.up;
    if (!changed && (up || reason === this.health.reason)) return;
    this.health = { up, ...(up ? {} : { reason }), since: changed ? new Date().toISOString() : this.health.since };
    if (!changed) return;
    if (up) this.logger.warn('the database answers again');
    else this.logger.error({ reason }, 'the database is unavailable');
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** An error's cause, without the database's address where it is a connection failure. */
function describe(err: unknown): string {
  return databaseUnavailableCause(err as { code?: string; message?: string }) ?? (err as Error).message;
}
