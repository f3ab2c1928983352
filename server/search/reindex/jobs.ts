import type { Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { writeIndexRows } from '../../store/index-writes.ts';
import { extractIndexRows } from '../../store/indexer.ts';

/** Resources re-indexed per database transaction: short enough that writers to them wait only briefly. */
const BATCH = 200;
/** How long a node owns a running job without renewing; after that another node (or a restart) resumes it. */
const LEASE_SECONDS = 30;

/** A reindex job as stored. */
export interface ReindexJob {
  id: string;
  resourceType: string | null;
  status: 'queued' | 'running' | 'completed' | 'failed';
  processed: number;
  total: number;
  error: string | null;
}

const COLUMNS = `id, resource_type AS "resourceType", status, processed::float8 AS processed, total::float8 AS total, error`;

/** Queues a job over every live resource (of one type) that exists now. */
export async function createReindexJob(db: pg.Pool | pg.PoolClient, resourceType?: string): Promise<ReindexJob> {
  const { rows } = await db.query<ReindexJob>(
    `INSERT INTO reindex_job (id, resource_type, status, last_rid, total)
     SELECT $1, $2, 'queued', coalesce(max(rid), 0), count(*) FROM resource
     WHERE NOT deleted AND ($2::text IS NULL OR resource_type = $2)
     RETURNING ${COLUMNS}`,
    [randomUUID(), resourceType ?? null],
  );
  return rows[0];
}

/** A job by id, or undefined. */
export async function getReindexJob(db: pg.Pool | pg.PoolClient, id: string): Promise<ReindexJob | undefined> {
  if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
  const { rows } = await db.query<ReindexJob>(`SELECT ${COLUMNS} FROM reindex_job WHERE id = $1`, [id]);
  return rows[0];
}

/**
 * Re-computes the index rows of the given live resources with the SearchParameters known now, in the caller's
 * transaction. Rows are locked while they are re-indexed, so a concurrent update either waits or came first.
 */
export async function reindexResources(client: pg.PoolClient, where: string, params: unknown[]): Promise<{ count: number; lastRid: number }> {
  const { rows } = await client.query<{ rid: string; resource_type: string; id: string; content: string; last_updated: string }>(
    `SELECT rid, resource_type, id, content, last_updated FROM resource WHERE NOT deleted AND ${where} ORDER BY rid FOR UPDATE`,
    params,
  );
  await writeIndexRows(
    client,
    rows.map((r) => ({
      rid: Number(r.rid),
      resourceType: r.resource_type,
      id: r.id,
      replaces: true,
      content: r.content,
      lastUpdated: r.last_updated,
      index: extractIndexRows(JSON.parse(r.content) as Resource),
    })),
  );
  return { count: rows.length, lastRid: rows.length ? Number(rows[rows.length - 1].rid) : 0 };
}

/** Claims the oldest job nobody holds; undefined when there is none. */
async function claim(pool: pg.Pool): Promise<{ id: string; resourceType: string | null; nextRid: number; lastRid: number } | undefined> {
  const { rows } = await pool.query(
    `UPDATE reindex_job SET status = 'running', lease_until = now() + make_interval(secs => $1), updated_at = now()
     WHERE id = (SELECT id FROM reindex_job WHERE status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now())
                 ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING id, resource_type AS "resourceType", next_rid AS "nextRid", last_rid AS "lastRid"`,
    [LEASE_SECONDS],
  );
  return rows[0] ? { ...rows[0], nextRid: Number(rows[0].nextRid), lastRid: Number(rows[0].lastRid) } : undefined;
}

/** Runs one batch of a claimed job; returns false when the job is finished. */
async function runBatch(pool: pg.Pool, job: { id: string; resourceType: string | null; nextRid: number; lastRid: number }): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { count, lastRid } = await reindexResources(
      client,
      `rid IN (SELECT rid FROM resource WHERE NOT deleted AND rid >= $1 AND rid <= $2 AND ($3::text IS NULL OR resource_type = $3)
               ORDER BY rid LIMIT ${BATCH})`,
      [job.nextRid, job.lastRid, job.resourceType],
    );
    const done = count === 0;
    await client.query(
      `UPDATE reindex_job SET next_rid = $2, processed = processed + $3, status = $4, updated_at = now(),
         lease_until = CASE WHEN $4 = 'completed' THEN NULL ELSE now() + make_interval(secs => $5) END
       WHERE id = $1`,
      [job.id, done ? job.nextRid : lastRid + 1, count, done ? 'completed' : 'running', LEASE_SECONDS],
    );
    await client.query('COMMIT');
    job.nextRid = lastRid + 1;
    return !done;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * The in-process worker: claims queued (or abandoned) jobs and runs them batch by batch, each batch its own short
 * transaction that also records progress, so a job survives restarts. Returns `kick` (look for work now) and `stop`.
 */
export function startReindexWorker(pool: pg.Pool, onError: (err: unknown) => void): { kick: () => void; stop: () => Promise<void> } {
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    for (let job = await claim(pool); job && !stopped; job = await claim(pool)) {
      try {
        while (!stopped && (await runBatch(pool, job)));
      } catch (err) {
        onError(err);
        await pool.query(`UPDATE reindex_job SET status = 'failed', error = $2, lease_until = NULL WHERE id = $1`, [job.id, String(err)]);
      }
    }
  };
  const kick = () => {
    if (stopped || running) return;
    running = loop()
      .catch(onError)
      .finally(() => {
        running = undefined;
      });
  };
  const schedule = () => {
    timer = setTimeout(() => {
      kick();
      schedule();
    }, 5000);
    timer.unref();
  };
  kick();
  schedule();
  return {
    kick,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
