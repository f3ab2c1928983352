import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../../fhir/outcomes.ts';
import type { HistoryQuery, StoredVersion } from '../../core/repository.ts';
import { dateTimePeriod, decodeCursor, encodeCursor } from '../history-params.ts';
import { etag } from '../../core/respond.ts';
import { requireResourceType, requireValidId } from '../../core/router.ts';
import type { FhirContext, FhirHandler, FhirRequest } from '../../core/types.ts';

const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;

/**
 * `GET [type]/[id]/_history`, `GET [type]/_history`, `GET _history`: versions newest first. Pages are keyset-paged
 * on (lastUpdated, type, id, version): a `next` link continues strictly after the last entry it saw, so writes
 * that happen while a client pages neither repeat nor push entries off the pages (new versions sort before page 1).
 */
export const historyHandler: FhirHandler = async (ctx, req, { type, id }) => {
  if (type) requireResourceType(type);
  if (id) requireValidId(id);
  const q = parseHistoryQuery(req, type, id);
  if (id && !(await ctx.repo.readCurrent(type, id))) await ctx.repo.read(type, id);
  const rows = q.count === 0 ? [] : await ctx.repo.history({ ...q, count: q.count + 1 });
  const page = rows.slice(0, q.count);
  const path = [type, id, '_history'].filter(Boolean).join('/');
  const { _cursor: _, ...firstQuery } = req.query;
  const links: BundleLink[] = [
    { relation: 'self', url: pageUrl(ctx, path, req.query) },
    { relation: 'first', url: pageUrl(ctx, path, firstQuery) },
  ];
  if (rows.length > q.count) {
    const cursor = encodeCursor(page[page.length - 1]);
    links.push({ relation: 'next', url: pageUrl(ctx, path, { ...firstQuery, _cursor: [cursor] }) });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    link: links,
    entry: page.map((r) => entryOf(ctx, r)),
  };
  return { status: 200, resource: bundle };
};

function parseHistoryQuery(req: FhirRequest, type?: string, id?: string): HistoryQuery {
  const one = (name: string) => {
    const values = req.query[name];
    if (values && values.length > 1) throw badRequest(`${name} may be given only once`, name);
    return values?.[0];
  };
  const countText = one('_count');
  const count = countText === undefined ? DEFAULT_COUNT : Number(countText);
  if (!Number.isInteger(count) || count < 0 || countText === '') {
    throw badRequest('_count must be a non-negative integer', '_count');
  }
  const q: HistoryQuery = { resourceType: type, id, count: Math.min(count, MAX_COUNT) };
  const since = one('_since');
  if (since !== undefined) q.since = dateTimePeriod(since, '_since').start;
  const at = one('_at');
  if (at !== undefined) q.at = dateTimePeriod(at, '_at');
  const cursor = one('_cursor');
  if (cursor !== undefined) q.before = decodeCursor(cursor);
  return q;
}

function entryOf(ctx: FhirContext, row: StoredVersion): BundleEntry {
  const url = `${row.resourceType}/${row.id}`;
  const entry: BundleEntry = { fullUrl: `${ctx.baseUrl}/${url}` };
  if (!row.deleted && row.content) entry.resource = JSON.parse(row.content) as Resource;
  const method = row.deleted ? 'DELETE' : row.method === 'create' ? 'POST' : row.method === 'patch' ? 'PATCH' : 'PUT';
  entry.request = { method, url: method === 'POST' ? row.resourceType : url };
  entry.response = {
    status: row.deleted ? '204' : row.method === 'create' ? '201' : '200',
    etag: etag(row.versionId),
    lastModified: new Date(row.lastUpdated).toISOString(),
  };
  return entry;
}

function pageUrl(ctx: FhirContext, path: string, query: Record<string, string[]>): string {
  const params = new URLSearchParams();
  for (const [k, vs] of Object.entries(query)) for (const v of vs) params.append(k, v);
  const qs = params.toString();
  return `${ctx.baseUrl}/${path}${qs ? '?' + qs : ''}`;
}
