import { informational, notFound, outcome, OutcomeError } from '../fhir/outcomes.ts';
import type { FhirRouter } from '../core/router.ts';
import type { FhirContext, FhirHandler, FhirResponse } from '../core/types.ts';
import type { JobRunner } from './runner.ts';
import type { Job } from './types.ts';

/** The status URL of a job (the `Content-Location` of its kick-off response), relative to the FHIR base. */
function statusPath(jobId: string): string {
  return `$status/${jobId}`;
}

/**
 * The kick-off answer of the FHIR asynchronous request pattern: 202 Accepted with the job's status URL in
 * `Content-Location`, and an informational OperationOutcome.
 */
export function acceptedResponse(ctx: FhirContext, job: Job): FhirResponse {
  return {
    status: 202,
    resource: informational(
      `Accepted: job ${job.id} (${job.kind}) is queued; poll the Content-Location URL for its status`,
    ),
    headers: { contentLocation: `${ctx.baseUrl}/${statusPath(job.id)}` },
  };
}

/**
 * Registers the status URL of every job: `GET [base]/$status/[id]` answers 202 with `X-Progress` while the job is
 * queued or running, 200 with its result once it succeeded, and its OperationOutcome with the failure's status (4xx
 * or 5xx) once it failed or went to the dead letter; `DELETE` cancels a queued or running job and forgets a finished
 * one (202; the URL answers 404 after). Only the client that started a job may see it.
 */
export function addJobOperations(router: FhirRouter, jobs: JobRunner): void {
  router.add('GET', '$status/:job', 'job-status', jobStatusHandler(jobs), 'unrestricted');
  router.add('DELETE', '$status/:job', 'job-cancel', jobCancelHandler(jobs), 'unrestricted');
}

function jobStatusHandler(jobs: JobRunner): FhirHandler {
  return async (ctx, _req, { job: id }) => {
    const job = await visibleJob(ctx, jobs, id);
    switch (job.state) {
      case 'queued':
      case 'running': {
        const progress = progressText(job);
        return { status: 202, resource: informational(progress), headers: { progress } };
      }
      case 'succeeded':
        return { status: 200, resource: job.result ?? informational(`Job ${job.id} is complete`) };
      case 'cancelled':
        throw notFound(`Job ${job.id} was cancelled`);
      default:
        throw new OutcomeError(
          job.errorStatus ?? 500,
          job.error ?? outcome('error', 'exception', `Job ${job.id} ${job.state}`),
        );
    }
  };
}

function jobCancelHandler(jobs: JobRunner): FhirHandler {
  return async (ctx, _req, { job: id }) => {
    const job = await visibleJob(ctx, jobs, id);
    if (job.state === 'queued' || job.state === 'running') {
      await jobs.cancel(job.id);
      return { status: 202, resource: informational(`Job ${job.id} is cancelled`) };
    }
    await jobs.forget(job.id);
    return { status: 202, resource: informational(`Job ${job.id} is deleted`) };
  };
}

/** The job, if the caller may see it: one started without a client (the server's own), or by the caller's client. */
async function visibleJob(ctx: FhirContext, jobs: JobRunner, id: string): Promise<Job> {
  const job = await jobs.get(id);
  if (!job || (job.requester && ctx.access.clientId && job.requester !== ctx.access.clientId))
    throw notFound(`No job "${id}"`);
  return job;
}

/** A one-line account of a queued or running job for `X-Progress` (printable ASCII, as a header must be). */
export function progressText(job: Job): string {
  const { done, total } = job.progress;
  let text: string;
  if (job.state === 'running')
    text = total ? `running: ${done} of ${total} (${Math.floor((100 * done) / total)}%)` : `running: ${done} done`;
  else if (job.attempts > 0)
    text = `waiting to retry (attempt ${job.attempts + 1} of ${job.maxAttempts}) after: ${job.error?.issue?.[0]?.diagnostics ?? 'a failure'}`;
  else text = 'queued';
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
