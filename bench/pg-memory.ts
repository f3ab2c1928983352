import { readFileSync } from 'node:fs';
import type pg from 'pg';

/**
 * Samples the memory of the Postgres backends serving one database, from /proc (Postgres on this machine, Linux):
 * each backend's private memory (`RssAnon`: what its queries allocate — plans, sorts, hashes; not the shared buffers
 * it reads, which `VmRSS` and `VmHWM` count too). A backend rarely hands memory back to the system, so besides the
 * largest RssAnon seen, a window (from `reset()`) reports the most any backend grew in it: what the window's work
 * needed beyond what earlier work had already taken.
 */
export class BackendMemory {
  private timer?: NodeJS.Timeout;
  private pids: number[] = [];
  /** RssAnon (kB) of each backend at the start of the window, and its largest since. */
  private startKb = new Map<number, number>();
  private max = new Map<number, number>();
  private overallKb = 0;
  available = true;

  constructor(
    private readonly admin: pg.Pool,
    private readonly database: string,
    private readonly everyMs = 50,
  ) {}

  start(): void {
    const tick = async () => {
      try {
        await this.sample();
      } finally {
        if (this.timer) this.timer = setTimeout(tick, this.everyMs);
      }
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Starts a window. */
  async reset(): Promise<void> {
    await this.refreshPids();
    this.startKb = new Map(this.pids.map((pid) => [pid, this.read(pid) ?? 0]));
    this.max = new Map(this.startKb);
  }

  /** The window's largest RssAnon of one backend and the most one backend grew, in MB (NaN without /proc). */
  window(): { peakMb: number; growthMb: number } {
    if (!this.available) return { peakMb: NaN, growthMb: NaN };
    let peak = 0;
    let growth = 0;
    for (const [pid, kb] of this.max) {
      peak = Math.max(peak, kb);
      growth = Math.max(growth, kb - (this.startKb.get(pid) ?? 0));
    }
    return { peakMb: peak / 1024, growthMb: growth / 1024 };
  }

  /** The largest RssAnon of one backend over the whole run, in MB. */
  overallMb(): number {
    return this.available ? this.overallKb / 1024 : NaN;
  }

  private async refreshPids(): Promise<void> {
    const { rows } = await this.admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      [this.database],
    );
    this.pids = rows.map((r) => r.pid);
  }

  private read(pid: number): number | undefined {
    try {
      return Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.available = false;
      return undefined;
    }
  }

  private async sample(): Promise<void> {
    // New connections appear now and then (the pool grows, a cancelled search's connection is replaced).
    if (this.pids.length === 0 || Math.random() < 0.05) await this.refreshPids();
    for (const pid of this.pids) {
      const kb = this.read(pid);
      if (kb === undefined) continue;
      if (!this.startKb.has(pid)) this.startKb.set(pid, kb);
      this.max.set(pid, Math.max(this.max.get(pid) ?? 0, kb));
      this.overallKb = Math.max(this.overallKb, kb);
    }
  }
}
