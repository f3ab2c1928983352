import type { Resource } from '@medplum/fhirtypes';
import type pg from 'pg';
import { extractIndexRows } from '../server/store/indexer.ts';
import { writeVersions, type PendingWrite } from '../server/store/writes.ts';
import { cloneTemplate, type SyntheaTemplate } from './synthea-clone.ts';

/** Resources/s of one loaded chunk. */
export interface IngestChunk {
  from: number;
  upTo: number;
  perSecond: number;
}

/** Resources loaded before ingest is timed: JIT, definition and connection warm-up, not the database's growth. */
export const INGEST_WARMUP = 5_000;

/**
 * Loads cloned Synthea patients until the database holds `target` resources, one patient bundle per database
 * transaction through the store's own write path (resource, history, index rows, outbox), and records the ingest
 * rate of every `chunk` resources. Returns the new resource count.
 */
export async function loadUpTo(
  pool: pg.Pool,
  templates: SyntheaTemplate[],
  state: { resources: number; patients: number },
  target: number,
  chunk: number,
  chunks: IngestChunk[],
): Promise<void> {
  let chunkStart = process.hrtime.bigint();
  let chunkFrom = state.resources;
  const timed = () => state.resources >= INGEST_WARMUP;
  while (state.resources < target) {
    const resources = cloneTemplate(templates[state.patients % templates.length], state.patients);
    await write(pool, resources);
    state.patients++;
    state.resources += resources.length;
    if (!timed()) {
      chunkStart = process.hrtime.bigint();
      chunkFrom = state.resources;
      continue;
    }
    const count = state.resources - chunkFrom;
    if (count >= chunk || state.resources >= target) {
      const seconds = Number(process.hrtime.bigint() - chunkStart) / 1e9;
      chunks.push({ from: chunkFrom, upTo: state.resources, perSecond: count / seconds });
      process.stderr.write(`loaded ${state.resources} resources (${Math.round(count / seconds)}/s)\n`);
      chunkStart = process.hrtime.bigint();
      chunkFrom = state.resources;
    }
  }
}

async function write(pool: pg.Pool, resources: Resource[]): Promise<void> {
  const now = new Date().toISOString();
  const writes: PendingWrite[] = resources.map((r) => {
    const stored = { ...r, meta: { ...r.meta, versionId: '1', lastUpdated: now } } as Resource;
    return {
      resourceType: r.resourceType, id: r.id as string, versionId: 1, lastUpdated: now, deleted: false,
      method: 'create', content: JSON.stringify(stored), index: extractIndexRows(stored), replaces: false,
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

/**
 * Early vs late ingest: the mean rate of the first and of the last quarter of the chunks (at least one each), and
 * late/early. Timing starts after INGEST_WARMUP resources.
 */
export function ingestTrend(chunks: IngestChunk[]): { early: number; late: number; ratio: number } {
  const n = Math.max(1, Math.floor(chunks.length / 4));
  const mean = (cs: IngestChunk[]) => cs.reduce((s, c) => s + c.perSecond, 0) / cs.length;
  const early = mean(chunks.slice(0, n));
  const late = mean(chunks.slice(-n));
  return { early, late, ratio: late / early };
}
