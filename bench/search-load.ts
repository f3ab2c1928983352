import type { Resource } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type pg from 'pg';
import { extractIndexRows } from '../server/store/indexer.ts';
import { writeVersions, type PendingWrite } from '../server/store/writes.ts';
import { cloneTemplate, type SyntheaTemplate } from './synthea-clone.ts';

/** Resources/s of one loaded chunk, with the CPU it took and the machine's load meanwhile. */
export interface IngestChunk {
  from: number;
  upTo: number;
  perSecond: number;
  /** CPU ms per resource of this process and the database's backends; undefined when Postgres is not local. */
  cpuMs?: number;
  /** 1-minute load average at the end of the chunk. */
  load: number;
}

/**
 * CPU time of this process plus the Postgres backends serving its database, read from /proc (Postgres on the same
 * machine, Linux): unlike resources/s it does not change when other work shares the cores.
 */
class CpuMeter {
  private backends = new Map<number, number>();
  private own = process.cpuUsage();

  constructor(private readonly pool: pg.Pool) {}

  /** CPU seconds used since the previous call (the first call starts the count), or undefined without /proc. */
  async sample(): Promise<number | undefined> {
    const own = process.cpuUsage(this.own);
    this.own = process.cpuUsage();
    const { rows } = await this.pool.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
    );
    let ticks = 0;
    const seen = new Map<number, number>();
    for (const { pid } of rows) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return undefined;
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const total = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 per second)
      ticks += total - (this.backends.get(pid) ?? total);
      seen.set(pid, total);
    }
    this.backends = seen;
    return (own.user + own.system) / 1e6 + ticks / 100;
  }
}

/** Resources loaded before ingest is timed: JIT, definition and connection warm-up, not the database's growth. */
export const INGEST_WARMUP = 5_000;

/**
 * Loads cloned Synthea patients until the database holds `target` resources, one patient bundle per database
 * transaction through the store's own write path (resource, history, index rows, outbox), and records the ingest
 * rate of every `chunk` resources. Returns the new resource count. `indexed: false` writes no search index rows
 * (the control for "how much of the slowdown comes from indexing").
 */
export async function loadUpTo(
  pool: pg.Pool,
  templates: SyntheaTemplate[],
  state: { resources: number; patients: number },
  target: number,
  chunk: number,
  chunks: IngestChunk[],
  indexed = true,
): Promise<void> {
  const cpu = new CpuMeter(pool);
  let chunkStart = process.hrtime.bigint();
  let chunkFrom = state.resources;
  await cpu.sample();
  const timed = () => state.resources >= INGEST_WARMUP;
  while (state.resources < target) {
    const resources = cloneTemplate(templates[state.patients % templates.length], state.patients);
    await write(pool, resources, indexed);
    state.patients++;
    state.resources += resources.length;
    if (!timed()) {
      chunkStart = process.hrtime.bigint();
      chunkFrom = state.resources;
      await cpu.sample();
      continue;
    }
    const count = state.resources - chunkFrom;
    if (count >= chunk || state.resources >= target) {
      const seconds = Number(process.hrtime.bigint() - chunkStart) / 1e9;
      const used = await cpu.sample();
      const c: IngestChunk = {
        from: chunkFrom,
        upTo: state.resources,
        perSecond: count / seconds,
        load: os.loadavg()[0],
      };
      if (used !== undefined) c.cpuMs = (used * 1000) / count;
      chunks.push(c);
      process.stderr.write(
        `loaded ${state.resources} resources (${Math.round(c.perSecond)}/s, load ${c.load.toFixed(1)})\n`,
      );
      chunkStart = process.hrtime.bigint();
      chunkFrom = state.resources;
    }
  }
}

async function write(pool: pg.Pool, resources: Resource[], indexed: boolean): Promise<void> {
  const now = new Date().toISOString();
  const writes: PendingWrite[] = resources.map((r) => {
    const stored = { ...r, meta: { ...r.meta, versionId: '1', lastUpdated: now } } as Resource;
    return {
      resourceType: r.resourceType,
      id: r.id as string,
      versionId: 1,
      lastUpdated: now,
      deleted: false,
      method: 'create',
      content: JSON.stringify(stored),
      index: indexed ? extractIndexRows(stored) : null,
      replaces: false,
    };
  });
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await writeVersions(client, writes);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

/** Early vs late: the mean of the first and of the last quarter of the chunks (at least one each), and late/early. */
export function ingestTrend(
  chunks: IngestChunk[],
  value: (c: IngestChunk) => number,
): { early: number; late: number; ratio: number } {
  const n = Math.max(1, Math.floor(chunks.length / 4));
  const mean = (cs: IngestChunk[]) => cs.reduce((s, c) => s + value(c), 0) / cs.length;
  const early = mean(chunks.slice(0, n));
  const late = mean(chunks.slice(-n));
  return { early, late, ratio: late / early };
}
