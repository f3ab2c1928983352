import express from 'express';
import { badRequest, notFound } from '../fhir/outcomes.ts';
import type { Inbox } from './inbox.ts';
import { INBOX_STATES, type InboxFilter, type InboxState } from './store.ts';

/**
 * The admin API of the inbox, mounted at `/admin/inbox` behind the admin check (server/http/admin-api.ts):
 * - `GET /?door=&endpoint=&state=&limit=&before=` lists messages newest first, without payloads (`next` pages on);
 * - `GET /:id` shows one with its payload (`payload.base64`, and `payload.text` when it is UTF-8);
 * - `POST /:id/replay`, `POST /replay` `{ids?, door?, endpoint?, states? = [failed, dead], before?}` replay on the
 *   job runner (202 with the jobs);
 * - `DELETE /:id` purges one, `POST /purge` `{ids?, door?, endpoint?, states? = [processed], before?}` purges many.
 */
export function inboxAdminRoutes(inbox: Inbox): express.Router {
  const router = express.Router();

  router.get('/', async (req, res) => {
    const filter: InboxFilter = {
      door: single(req.query.door, 'door'),
      endpoint: single(req.query.endpoint, 'endpoint'),
      states: req.query.state === undefined ? undefined : states(single(req.query.state, 'state')?.split(',')),
    };
    const limit = integer(single(req.query.limit, 'limit') ?? '100', 'limit', 1000);
    const before = req.query.before === undefined ? undefined : integer(single(req.query.before, 'before'), 'before');
    const messages = await inbox.list(filter, limit, before);
    const last = messages.at(-1);
    const query = new URLSearchParams(
      Object.entries(req.query).filter(([k, v]) => k !== 'before' && typeof v === 'string') as [string, string][],
    );
    if (last && messages.length === limit) query.set('before', String(last.id));
    res.json({ messages, next: last && messages.length === limit ? `${req.baseUrl}?${query}` : undefined });
  });

  router.get('/:id', async (req, res) => {
    const message = await inbox.get(integer(req.params.id, 'id'));
    if (!message) throw notFound(`No inbox message ${req.params.id}`);
    const { payload, ...rest } = message;
    const text = new TextDecoder('utf-8', { fatal: true });
    let decoded: string | undefined;
    try {
      decoded = text.decode(payload);
    } catch {
      decoded = undefined; // binary: base64 only
    }
    res.json({ ...rest, payload: { base64: payload.toString('base64'), text: decoded } });
  });

  router.post('/replay', async (req, res) => {
    const filter = bodyFilter(req.body, ['failed', 'dead']);
    res.status(202).json(await inbox.replay(filter));
  });

  router.post('/:id/replay', async (req, res) => {
    const id = integer(req.params.id, 'id');
    if (!(await inbox.get(id))) throw notFound(`No inbox message ${id}`);
    res.status(202).json(await inbox.replay({ ids: [id] }));
  });

  router.post('/purge', async (req, res) => {
    res.json({ purged: await inbox.purge(bodyFilter(req.body, ['processed'])) });
  });

  router.delete('/:id', async (req, res) => {
    const purged = await inbox.purge({ ids: [integer(req.params.id, 'id')] });
    if (purged === 0) throw notFound(`No inbox message ${req.params.id}`);
    res.status(204).end();
  });

  return router;
}

/** The filter of a replay or purge request body; `defaultStates` unless it names states (or ids). */
function bodyFilter(body: unknown, defaultStates: InboxState[]): InboxFilter {
  if (body === undefined) body = {};
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('The body must be a JSON object');
  const b = body as Record<string, unknown>;
  const list = (name: string) => {
    if (b[name] !== undefined && !Array.isArray(b[name])) throw badRequest(`${name} must be an array`);
    return b[name] as unknown[] | undefined;
  };
  const text = (name: string) => {
    if (b[name] !== undefined && typeof b[name] !== 'string') throw badRequest(`${name} must be a string`);
    return b[name] as string | undefined;
  };
  const ids = list('ids')?.map((v) => integer(String(v), 'ids'));
  const before = text('before');
  if (before !== undefined && Number.isNaN(Date.parse(before))) throw badRequest('before must be an instant');
  const named = list('states');
  return {
    ids,
    door: text('door'),
    endpoint: text('endpoint'),
    before,
    states: named ? states(named) : ids ? undefined : defaultStates,
  };
}

function states(values: unknown[] | undefined): InboxState[] {
  for (const v of values ?? [])
    if (!INBOX_STATES.includes(v as InboxState)) throw badRequest(`A state is one of ${INBOX_STATES.join(', ')}`);
  return (values ?? []) as InboxState[];
}

/** A query parameter given at most once. */
function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`${name} must be given once`);
  return value;
}

function integer(value: string | undefined, name: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^\d+$/.test(value ?? '') || n < 1 || n > max) throw badRequest(`${name} must be an integer from 1 to ${max}`);
  return n;
}
