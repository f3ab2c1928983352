import type { Resource } from '@medplum/fhirtypes';
import { notFound, preconditionFailed } from '../../fhir/outcomes.ts';
import type { StoredVersion } from '../../core/repository.ts';
import { lockAndMatch, singleMatch } from '../../search/conditional-query.ts';
import { applyPatchRequest } from '../patch/apply.ts';
import { parseVersionTag } from '../../core/respond.ts';
import { requireResourceType, requireValidId } from '../../core/router.ts';
import type { FhirContext, FhirHandler, FhirRequest, FhirResponse } from '../../core/types.ts';
import { storeUpdate } from './update.ts';

/**
 * `PATCH [type]/[id]`: JSON Patch or FHIRPath Patch applied to the current version (locked while patching), then
 * stored like an update (validation, `If-Match` → 412, Prefer); history records the method `patch`.
 */
export const patchHandler: FhirHandler = async (ctx, req, { type, id }) => {
  requireResourceType(type);
  requireValidId(id);
  return ctx.repo.transaction(async (repo) => patchVersion({ ...ctx, repo }, req, await repo.readForUpdate(type, id)));
};

/** `PATCH [type]?query`: patches the single match; no match → 404, several → 412. */
export const conditionalPatchHandler: FhirHandler = async (ctx, req, { type }) => {
  requireResourceType(type);
  return ctx.repo.transaction(async (repo) => {
    const txCtx = { ...ctx, repo };
    const match = singleMatch(await lockAndMatch(txCtx, type, req.query), 'Conditional patch');
    if (!match) throw notFound('Conditional patch: no resource matches the criteria');
    return patchVersion(txCtx, req, await repo.readForUpdate(type, match));
  });
};

async function patchVersion(ctx: FhirContext, req: FhirRequest, current: StoredVersion): Promise<FhirResponse> {
  if (req.headers.ifMatch && parseVersionTag(req.headers.ifMatch) !== current.versionId) {
    throw preconditionFailed(`Version ${req.headers.ifMatch} does not match the current version ${current.versionId}`);
  }
  const patched = applyPatchRequest(JSON.parse(current.content as string) as Resource & { id: string }, req);
  return storeUpdate(ctx, req, patched, 'patch');
}
