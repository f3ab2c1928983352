import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../../fhir/outcomes.ts';
import type { HistoryQuery, StoredVersion } from '../../store/repository.ts';
import { etag } from '../respond.ts';
import { requireResourceType, requireValidId } from '../router.ts';
import type { FhirContext, FhirHandler, FhirRequest } from '../types.ts';

const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;

/** `GET [type]/[id]/_history`, `GET [type]/_history`, `GET _history`: versions newest first, keyset-paged. */
export const historyHandler: FhirHandler = async (ctx, req, { type, id }) => {
  if (type) requireResourceType(type);
  if (id) requireValidId(id);
  const q = parseHistoryQuery(req, type, id);
  if (id && !(await ctx.repo.readCurrent(type, id))) await ctx.repo.read(type, id);
  const rows = await ctx.repo.history({ ...q, count: q.count + 1 });
  const page = rows.slice(0, q.count);
  const path = [type, id, '_history'].filter(Boolean).join('/');
  const links: BundleLink[] = [{ relation: 'self', url: pageUrl(ctx, path, req.query) }];
  if (rows.length > q.count) {
    const last = page[page.length - 1];
    const cursor = Buffer.from(
      JSON.stringify([last.lastUpdated, last.resourceType, last.id, last.versionId]),
    ).toString('base64url');
    links.push({ relation: 'next', url: pageUrl(ctx, path, { ...req.query, _cursor: [cursor] }) });
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'history', link: links, entry: page.map((r) => entryOf(ctx, r)) };
  return { status: 200, resource: bundle };
};

function parseHistoryQuery(req: FhirRequest, type?: string, id?: string): HistoryQuery {
  const one = (name: string) => req.query[name]?.[0];
  const count = one('_count') === undefined ? DEFAULT_COUNT : Number(one('_count'));
  if (!Number.isInteger(count) || count < 0) throw badRequest('_count must be a non-negative integer', '_count');
  const q: HistoryQuery = { resourceType: type, id, count: Math.min(count, MAX_COUNT) };
  for (const name of ['_since', '_at'] as const) {
    const v = one(name);
    if (v === undefined) continue;
    if (!/^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.test(v) || Number.isNaN(Date.parse(v))) {
      throw badRequest(`${name} must be an instant`, name);
    }
    q[name === '_since' ? 'since' : 'at'] = new Date(v).toISOString();
  }
  const cursor = one('_cursor');
  if (cursor) {
    try {
      const [lastUpdated, resourceType, cid, versionId] = JSON.parse(Buffer.from(cursor, 'base64url').toString());
      q.before = { lastUpdated, resourceType, id: cid, versionId: Number(versionId) };
    } catch {
      throw badRequest('Invalid _cursor', '_cursor');
    }
  }
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

