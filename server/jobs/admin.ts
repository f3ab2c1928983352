import express from 'express';
import { badRequest, conflict, notFound } from '../fhir/outcomes.ts';
import type { JobRunner } from './runner.ts';
import type { JobState } from './types.ts';

const STATES = new Set<JobState>(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'dead']);

/**
 * The admin API of the job runner, mounted at `/admin/jobs` behind the admin check (server/http/admin-api.ts):
 * `GET /` lists jobs, newest first (`kind`, `state`, `limit` ≤ 1000, `before` cursor from `next`), `GET /:id` shows
 * one, `POST /:id/retry` requeues a dead or failed one with fresh attempts, `POST /:id/cancel` cancels one.
 */
export function jobAdminRoutes(jobs: JobRunner): express.Router {
  const router = express.Router();

  router.get('/', async (req, res) => {
    const kind = single(req.query.kind, 'kind');
    const state = single(req.query.state, 'state');
    if (state !== undefined && !STATES.has(state as JobState))
      throw badRequest(`state must be one of ${[...STATES].join(', ')}`);
    const limit = Number(single(req.query.limit, 'limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw badRequest('limit must be an integer from 1 to 1000');
    const cursor = single(req.query.before, 'before');
    const [createdAt, id] = cursor?.split('_') ?? [];
    if (cursor !== undefined && (Number.isNaN(Date.parse(createdAt)) || !/^[0-9a-f-]{36}$/.test(id ?? '')))
      throw badRequest('Invalid before cursor');
    const list = await jobs.list({
      kind,
      state: state as JobState | undefined,
      limit,
      before: cursor ? { createdAt, id } : undefined,
    });
    const last = list.at(-1);
    const next =
      list.length === limit && last
        ? `${req.baseUrl}?${new URLSearchParams({ ...(kind ? { kind } : {}), ...(state ? { state } : {}), limit: String(limit), before: `${last.createdAt}_${last.id}` })}`
        : undefined;
    res.json({ jobs: list, next });
  });

  router.get('/:id', async (req, res) => {
    const job = await jobs.get(req.params.id);
    if (!job) throw notFound(`No job "${req.params.id}"`);
    res.json(job);
  });

  router.post('/:id/retry', async (req, res) => {
    const job = await jobs.requeue(req.params.id);
    if (job) {
      res.json(job);
      return;
    }
    if (!(await jobs.get(req.params.id))) throw notFound(`No job "${req.params.id}"`);
    throw conflict('Only dead or failed jobs can be retried');
  });

  router.post('/:id/cancel', async (req, res) => {
    const job = await jobs.cancel(req.params.id);
    if (!job) throw notFound(`No job "${req.params.id}"`);
    res.json(job);
  });

  return router;
}

/** A query parameter given at most once. */
function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`${name} must be given once`);
  return value;
}
