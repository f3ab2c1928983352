import { badRequest } from '../../fhir/outcomes.ts';
import { versionResponse } from '../../core/respond.ts';
import { requireResourceType, requireValidId } from '../../core/router.ts';
import type { FhirHandler, FhirResponse } from '../../core/types.ts';

/** `GET [type]/[id]`: the current version; honours If-None-Match and If-Modified-Since (304). */
export const readHandler: FhirHandler = async (ctx, req, { type, id }) => {
  requireResourceType(type);
  requireValidId(id);
  const row = await ctx.repo.read(type, id);
  const notModified = notModifiedResponse(req.headers, row.versionId, row.lastUpdated);
  if (notModified) return notModified;
  return versionResponse(ctx, 200, row, { content: row.content as string });
};

/** `GET [type]/[id]/_history/[vid]`: one version. */
export const vreadHandler: FhirHandler = async (ctx, _req, { type, id, vid }) => {
  requireResourceType(type);
  requireValidId(id);
  if (!/^\d+$/.test(vid)) throw badRequest(`Invalid version id "${vid}"`);
  const row = await ctx.repo.vread(type, id, Number(vid));
  return versionResponse(ctx, 200, row, { content: row.content as string });
};

function notModifiedResponse(
  headers: { ifNoneMatch?: string; ifModifiedSince?: string },
  versionId: number,
  lastUpdated: string,
): FhirResponse | undefined {
  if (headers.ifNoneMatch) {
    const tags = headers.ifNoneMatch.split(',').map((t) => t.trim().replace(/^W\//, '').replace(/"/g, ''));
    if (tags.includes('*') || tags.includes(String(versionId))) return { status: 304 };
    return undefined;
  }
  if (headers.ifModifiedSince) {
    const since = Date.parse(headers.ifModifiedSince);
    // HTTP dates have second precision; compare at that precision.
    if (!Number.isNaN(since) && Math.floor(Date.parse(lastUpdated) / 1000) * 1000 <= since) return { status: 304 };
  }
  return undefined;
}
