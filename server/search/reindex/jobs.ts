import type { Parameters, Resource } from '@medplum/fhirtypes';
import type pg from 'pg';
import type { JobRunner } from '../../jobs/runner.ts';
import type { Job, JobContext, JobKind } from '../../jobs/types.ts';
import { writeIndexRows } from '../../store/index-writes.ts';
import { extractIndexRows } from '../../store/indexer.ts';

/** Resources re-indexed per database transaction: short enough that writers to them wait only briefly. */
const BATCH = 200;

/** The kind of `$reindex` jobs on the job runner (server/jobs). */
export const REINDEX_JOB = 'reindex';

/**
 * What a `$reindex` job covers: every live resource (of one type) up to `lastRid`, the newest when it was queued
 * (resources written later are indexed by their own writes); or one resource.
 */
export type ReindexInput = { resourceType: string | null; lastRid: number } | { resourceType: string; id: string };

/**
 * Queues a job over every live resource (of one type) that exists now, for `requester` (an OAuth client); in the
 * caller's transaction when `db` is one.
 */
export async function queueReindex(
  jobs: JobRunner,
  db: pg.Pool | pg.PoolClient,
  resourceType: string | undefined,
  requester?: string,
): Promise<Job<ReindexInput>> {
  const { rows } = await db.query<{ last: number; n: number }>(
    `SELECT coalesce(max(rid), 0)::float8 AS last, count(*)::float8 AS n FROM resource WHERE NOT deleted AND ($1::text IS NULL OR resource_type = $1)`,
    [resourceType ?? null],
  );
  return jobs.enqueue<ReindexInput>(
    REINDEX_JOB,
    { resourceType: resourceType ?? null, lastRid: rows[0].last },
    { requester, total: rows[0].n, db },
  );
}

/**
 * Re-computes the index rows of the given live resources with the SearchParameters known now, in the caller's
 * transaction. Rows are locked while they are re-indexed, so a concurrent update either waits or came first.
 */
export async function reindexResources(
  client: pg.ClientBase,
  where: string,
  params: unknown[],
): Promise<{ count: number; lastRid: number }> {
  const { rows } = await client.query<{
    rid: string;
    resource_type: string;
    id: string;
    content: string;
    last_updated: string;
  }>(
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

/**
 * The `$reindex` job: batch after batch, each its own short transaction that also saves the progress and where the
 * job got to (checkpoint `nextRid`), so a job taken over after a crash, or requeued, resumes there. It has no time
 * limit: it is cancellable and every batch is kept.
 */
export const reindexJob: JobKind<ReindexInput> = {
  timeoutMs: 0,
  run: async (ctx) => {
    const input = ctx.job.input;
    if ('id' in input) {
      const { count } = await ctx.transaction(async (client) => {
        const done = await reindexResources(client, 'resource_type = $1 AND id = $2', [input.resourceType, input.id]);
        await ctx.progress({ done: done.count, total: 1 }, client);
        return done;
      });
      return reindexResult(ctx, count, 1);
    }
    let nextRid = (ctx.job.checkpoint as { nextRid?: number } | null)?.nextRid ?? 0;
    let processed = ctx.job.progress.done;
    for (;;) {
      ctx.signal.throwIfAborted();
      const step = await ctx.transaction(async (client) => {
        const { count, lastRid } = await reindexResources(
          client,
          `rid IN (SELECT rid FROM resource WHERE NOT deleted AND rid >= $1 AND rid <= $2 AND ($3::text IS NULL OR resource_type = $3)
                   ORDER BY rid LIMIT ${BATCH})`,
          [nextRid, input.lastRid, input.resourceType],
        );
        const next = count > 0 ? lastRid + 1 : nextRid;
        await ctx.progress({ done: processed + count, checkpoint: { nextRid: next } }, client);
        return { count, next };
      });
      processed += step.count;
      nextRid = step.next;
      if (step.count === 0) return reindexResult(ctx, processed, ctx.job.progress.total ?? processed);
    }
  },
};

/** The result of a finished job, answered by its status URL. */
function reindexResult(ctx: JobContext<ReindexInput>, processed: number, total: number): Parameters {
  const parameter: NonNullable<Parameters['parameter']> = [
    { name: 'job', valueString: ctx.job.id },
    { name: 'status', valueCode: 'completed' },
    { name: 'processed', valueInteger: processed },
    { name: 'total', valueInteger: total },
    { name: 'progress', valueDecimal: 100 },
  ];
  if (ctx.job.input.resourceType) parameter.push({ name: 'type', valueCode: ctx.job.input.resourceType });
  return { resourceType: 'Parameters', parameter };
}
