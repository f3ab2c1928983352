import { informational, preconditionFailed } from '../../fhir/outcomes.ts';
import { lockAndMatch } from '../../search/conditional-query.ts';
import { parseVersionTag } from '../../core/respond.ts';
import { requireResourceType, requireValidId } from '../../core/router.ts';
import type { FhirHandler, FhirResponse } from '../../core/types.ts';

/** `DELETE [type]/[id]`: a new, deleted version; history stays. Deleting a deleted resource is a no-op (200). */
export const deleteHandler: FhirHandler = async (ctx, req, { type, id }) => {
  requireResourceType(type);
  requireValidId(id);
  const ifMatch = req.headers.ifMatch ? parseVersionTag(req.headers.ifMatch) : undefined;
  const deleted = await ctx.repo.delete(type, id, { ifMatch });
  return deletedResponse(deleted ? `Deleted ${type}/${id}` : `${type}/${id} was already deleted`);
};

/**
 * `DELETE [type]?query`: deletes the single match; no match is a success (200); several matches → 412
 * (this server does not do multiple conditional deletes).
 */
export const conditionalDeleteHandler: FhirHandler = async (ctx, req, { type }) => {
  requireResourceType(type);
  return ctx.repo.transaction(async (repo) => {
    const ids = await lockAndMatch({ ...ctx, repo }, type, req.query);
    if (ids.length > 1) throw preconditionFailed('Conditional delete: the criteria match more than one resource');
    if (ids.length === 0) return deletedResponse('No resource matched; nothing was deleted');
    await repo.delete(type, ids[0]);
    return deletedResponse(`Deleted ${type}/${ids[0]}`);
  });
};

function deletedResponse(message: string): FhirResponse {
  return { status: 200, resource: informational(message) };
}
