import type { Resource } from '@medplum/fhirtypes';
import { badRequest } from '../../fhir/outcomes.ts';
import { lockAndMatch, singleMatch } from '../../search/conditional-query.ts';
import {
  applyPrefer,
  keyOf,
  parseIfNoneMatch,
  parseVersionTag,
  requireResource,
  versionResponse,
} from '../../core/respond.ts';
import { requireResourceType, requireValidId } from '../../core/router.ts';
import type { FhirContext, FhirHandler, FhirRequest, FhirResponse } from '../../core/types.ts';

/**
 * `PUT [type]/[id]`: updates, or creates with the client's id (update-as-create); `If-Match` → 412 on mismatch,
 * `If-None-Match: *` → 412 when the resource exists (create-only), as HTTP defines.
 */
export const updateHandler: FhirHandler = async (ctx, req, { type, id }) => {
  requireResourceType(type);
  requireValidId(id);
  const resource = requireResource(req, type);
  if (resource.id === undefined) throw badRequest('The resource in an update must have an id', 'id');
  if (resource.id !== id)
    throw badRequest(`The resource id "${resource.id}" does not match the URL's id "${id}"`, 'id');
  return storeUpdate(ctx, req, resource as Resource & { id: string });
};

/**
 * `PUT [type]?query`: conditional update. No match → create (with the body's id if it has one),
 * one match → update it, several → 412.
 */
export const conditionalUpdateHandler: FhirHandler = async (ctx, req, { type }) => {
  requireResourceType(type);
  const resource = requireResource(req, type);
  return ctx.repo.transaction(async (repo) => {
    const txCtx = { ...ctx, repo };
    const match = singleMatch(await lockAndMatch(txCtx, type, req.query), 'Conditional update');
    if (match && resource.id !== undefined && resource.id !== match) {
      throw badRequest(`The resource id "${resource.id}" does not match the matched resource "${match}"`, 'id');
    }
    if (!match && resource.id === undefined) {
      const created = await repo.create(resource);
      return applyPrefer(
        req,
        versionResponse(ctx, 201, keyOf(created), { resource: created }, { location: true, written: 'create' }),
        'Created',
      );
    }
    return storeUpdate(txCtx, req, { ...resource, id: match ?? (resource.id as string) });
  });
};

/** Stores an update and builds its response (shared by plain, conditional and patch updates). */
export async function storeUpdate(
  ctx: FhirContext,
  req: FhirRequest,
  resource: Resource & { id: string },
  method: 'update' | 'patch' = 'update',
): Promise<FhirResponse> {
  const ifMatch = req.headers.ifMatch ? parseVersionTag(req.headers.ifMatch) : undefined;
  const ifNoneMatch = req.headers.ifNoneMatch ? parseIfNoneMatch(req.headers.ifNoneMatch) : undefined;
  const { resource: stored, created } = await ctx.repo.update(resource, { ifMatch, ifNoneMatch, method });
  const res = versionResponse(
    ctx,
    created ? 201 : 200,
    keyOf(stored),
    { resource: stored },
    { location: true, written: created ? 'create' : method },
  );
  return applyPrefer(req, res, created ? 'Created' : 'Updated');
}
