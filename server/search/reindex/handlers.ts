import type { Parameters } from '@medplum/fhirtypes';
import type pg from 'pg';
import { forbidden } from '../../fhir/outcomes.ts';
import { acceptedResponse } from '../../jobs/fhir.ts';
import type { JobRunner } from '../../jobs/runner.ts';
import { requireResourceType, requireValidId, type FhirRouter } from '../../core/router.ts';
import type { FhirContext, FhirHandler } from '../../core/types.ts';
import { queueReindex, REINDEX_JOB, reindexJob, reindexResources, type ReindexInput } from './jobs.ts';

/**
 * Registers `$reindex` (system, type, instance) on the router and its job kind on the runner; its status is polled
 * at the job's status URL (server/jobs/fhir.ts).
 */
export function addReindexOperations(router: FhirRouter, jobs: JobRunner): void {
  jobs.register(REINDEX_JOB, reindexJob);
  router
    .add('POST', '$reindex', 'reindex', reindexHandler(jobs), 'unrestricted')
    .add('POST', ':type/$reindex', 'reindex', reindexHandler(jobs), 'unrestricted')
    .add('POST', ':type/:id/$reindex', 'reindex', reindexInstanceHandler(jobs), 'unrestricted');
}

function requireSystem(ctx: FhirContext): void {
  if (ctx.access.kind !== 'system') throw forbidden('$reindex is an administrative operation');
}

/**
 * `POST [base]/$reindex`, `POST [type]/$reindex`: queues a background job that re-indexes every resource (of the type)
 * with the SearchParameters known now; always asynchronous: 202 with the job's status URL in Content-Location.
 */
function reindexHandler(jobs: JobRunner): FhirHandler {
  return async (ctx, _req, { type }) => {
    requireSystem(ctx);
    if (type) requireResourceType(type);
    const job = await queueReindex(jobs, ctx.repo.queryable, type, ctx.access.clientId);
    return acceptedResponse(ctx, job);
  };
}

/** `POST [type]/[id]/$reindex`: re-indexes one resource now, or as a job under `Prefer: respond-async`. */
function reindexInstanceHandler(jobs: JobRunner): FhirHandler {
  return async (ctx, req, { type, id }) => {
    requireSystem(ctx);
    requireResourceType(type);
    requireValidId(id);
    await ctx.repo.read(type, id);
    if (req.headers.preferAsync) {
      return acceptedResponse(
        ctx,
        await jobs.enqueue<ReindexInput>(
          REINDEX_JOB,
          { resourceType: type, id },
          { requester: ctx.access.clientId, total: 1, db: ctx.repo.queryable },
        ),
      );
    }
    const count = await ctx.repo.transaction(async (tx) => {
      const client = tx.queryable as pg.PoolClient;
      return (await reindexResources(client, 'resource_type = $1 AND id = $2', [type, id])).count;
    });
    const result: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'processed', valueInteger: count }] };
    return { status: 200, resource: result };
  };
}
