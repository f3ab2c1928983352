import type { Parameters } from '@medplum/fhirtypes';
import type pg from 'pg';
import { forbidden, notFound } from '../../fhir/outcomes.ts';
import { requireResourceType, requireValidId } from '../../rest/router.ts';
import type { FhirContext, FhirHandler } from '../../rest/types.ts';
import { createReindexJob, getReindexJob, reindexResources, type ReindexJob } from './jobs.ts';

/** Workers by the pool they run on, so a new job starts at once instead of at the next poll. */
const kicks = new WeakMap<object, () => void>();

/** Registers the worker of a pool (server/search/services.ts). */
export function registerReindexWorker(pool: pg.Pool, kick: () => void): void {
  kicks.set(pool, kick);
}

function requireSystem(ctx: FhirContext): void {
  if (ctx.access.kind !== 'system') throw forbidden('$reindex is an administrative operation');
}

function jobParameters(job: ReindexJob): Parameters {
  const parameter: NonNullable<Parameters['parameter']> = [
    { name: 'job', valueString: job.id },
    { name: 'status', valueCode: job.status },
    { name: 'processed', valueInteger: job.processed },
    { name: 'total', valueInteger: job.total },
    { name: 'progress', valueDecimal: job.total ? Math.round((1000 * job.processed) / job.total) / 10 : 100 },
  ];
  if (job.resourceType) parameter.push({ name: 'type', valueCode: job.resourceType });
  if (job.error) parameter.push({ name: 'error', valueString: job.error });
  return { resourceType: 'Parameters', parameter };
}

/**
 * `POST [base]/$reindex`, `POST [type]/$reindex`: queues a background job that re-indexes every resource (of the type)
 * with the SearchParameters known now; 202 with the job's status URL in Content-Location.
 */
export const reindexHandler: FhirHandler = async (ctx, _req, { type }) => {
  requireSystem(ctx);
  if (type) requireResourceType(type);
  const pool = ctx.repo.queryable as pg.Pool;
  const job = await createReindexJob(pool, type);
  kicks.get(pool)?.();
  return { status: 202, resource: jobParameters(job), headers: { contentLocation: `${ctx.baseUrl}/$reindex/${job.id}` } };
};

/** `GET [base]/$reindex/[job]`: the progress of a job. */
export const reindexStatusHandler: FhirHandler = async (ctx, _req, { job }) => {
  requireSystem(ctx);
  const found = await getReindexJob(ctx.repo.queryable, job);
  if (!found) throw notFound(`No $reindex job "${job}"`);
  return { status: 200, resource: jobParameters(found) };
};

/** `POST [type]/[id]/$reindex`: re-indexes one resource now. */
export const reindexInstanceHandler: FhirHandler = async (ctx, _req, { type, id }) => {
  requireSystem(ctx);
  requireResourceType(type);
  requireValidId(id);
  await ctx.repo.read(type, id);
  const count = await ctx.repo.transaction(async (tx) => {
    const client = tx.queryable as pg.PoolClient;
    return (await reindexResources(client, 'resource_type = $1 AND id = $2', [type, id])).count;
  });
  return { status: 200, resource: { resourceType: 'Parameters', parameter: [{ name: 'processed', valueInteger: count }] } };
};
