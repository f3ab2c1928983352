import { lockAndMatch, parseConditionalQuery } from '../../search/conditional-query.ts';
import { applyPrefer, keyOf, requireResource, versionResponse } from '../../core/respond.ts';
import { requireResourceType } from '../../core/router.ts';
import type { FhirHandler } from '../../core/types.ts';
import { preconditionFailed } from '../../fhir/outcomes.ts';

/**
 * `POST [type]`: creates with a server-assigned id (a client id in the body is ignored, as the spec says).
 * With `If-None-Exist`, returns the existing match (200) instead, race-free; several matches → 412.
 */
export const createHandler: FhirHandler = async (ctx, req, { type }) => {
  requireResourceType(type);
  const resource = requireResource(req, type);
  const condition = req.headers.ifNoneExist;
  return ctx.repo.transaction(async (repo) => {
    const txCtx = { ...ctx, repo };
    if (condition) {
      const ids = await lockAndMatch(txCtx, type, parseConditionalQuery(condition));
      if (ids.length > 1) throw preconditionFailed('If-None-Exist: the criteria match more than one resource');
      if (ids.length === 1) {
        const row = await repo.read(type, ids[0]);
        const res = versionResponse(ctx, 200, row, { content: row.content as string }, { location: true });
        return applyPrefer(req, res, 'An existing resource matched If-None-Exist');
      }
    }
    const created = await repo.create(resource, { id: req.assignedId });
    return applyPrefer(
      req,
      versionResponse(ctx, 201, keyOf(created), { resource: created }, { location: true, written: 'create' }),
      'Created',
    );
  });
};
