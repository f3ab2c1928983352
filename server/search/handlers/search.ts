import { loadDefinitions } from '../../fhir/definitions.ts';
import { badRequest, notFound } from '../../fhir/outcomes.ts';
import { requireResourceType, requireValidId } from '../../core/router.ts';
import type { FhirContext, FhirHandler, FhirRequest, FhirResponse } from '../../core/types.ts';
import { searchsetResponse } from '../bundle.ts';
import { compartmentMembers, compartmentParams, isCompartmentType } from '../compartments.ts';
import { executeSearch } from '../engine.ts';
import type { SearchScope } from '../model.ts';
import { resolveIncludes } from '../include.ts';
import type { Criterion } from '../model.ts';
import { parseSearch } from '../parse.ts';
import { withSearchSession } from '../session.ts';

/** The scope of a search made by a request: its store, base URL and the caller's access. */
export function scopeOf(ctx: FhirContext): SearchScope {
  return { repo: ctx.repo, baseUrl: ctx.baseUrl, access: ctx.access };
}

/**
 * Parses, runs and answers a search over `resourceTypes` (extra criteria: e.g. compartment membership); its
 * statements run in a search session (server/search/session.ts: timeout, cancelled when the client goes away).
 */
async function answer(
  ctx: FhirContext,
  req: FhirRequest,
  resourceTypes: string[],
  path: string,
  extra: Criterion[] = [],
  used: [string, string][] = [],
): Promise<FhirResponse> {
  const request = parseSearch(resourceTypes, req.query, req.headers.preferHandling ?? 'lenient');
  request.criteria.push(...extra);
  request.used.unshift(...used);
  const { page, included, warnings } = await withSearchSession(ctx.repo, ctx.signal, async (repo) => {
    const scope: SearchScope = { ...scopeOf(ctx), repo };
    const page = await executeSearch(scope, request);
    return { page, ...(await resolveIncludes(scope, request.includes, request.revincludes, page.matches)) };
  });
  return searchsetResponse({
    baseUrl: ctx.baseUrl,
    path,
    request,
    page,
    included,
    warnings: [...request.warnings, ...warnings],
  });
}

/** `GET [type]?…` and `POST [type]/_search`: search one resource type. */
export const searchTypeHandler: FhirHandler = async (ctx, req, { type }) => {
  requireResourceType(type);
  return answer(ctx, req, [type], type);
};

/** `GET [base]?…` and `POST [base]/_search`: search every type, or the types listed in `_type`. */
export const searchSystemHandler: FhirHandler = async (ctx, req) => {
  const { resourceTypes, resourceTypeSet } = loadDefinitions();
  const listed = (req.query._type ?? [])
    .flatMap((v) => v.split(','))
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of listed) if (!resourceTypeSet.has(t)) throw badRequest(`_type: unknown resource type "${t}"`, '_type');
  const types = listed.length ? [...new Set(listed)] : resourceTypes;
  return answer(ctx, req, types, '', [], listed.length ? [['_type', listed.join(',')]] : []);
};

/** `GET [Compartment]/[id]/[type]?…`: search a type within a compartment (spec CompartmentDefinitions). */
export const compartmentSearchHandler: FhirHandler = async (ctx, req, { compartment, id, type }) => {
  if (!isCompartmentType(compartment)) throw notFound(`"${compartment}" is not a compartment`);
  requireValidId(id);
  requireResourceType(type);
  if (compartmentParams(compartment, type) === undefined)
    throw badRequest(`${type} is not in the ${compartment} compartment`);
  const membership: Criterion = { kind: 'compartment', compartmentType: compartment, id };
  return answer(ctx, req, [type], `${compartment}/${id}/${type}`, [membership]);
};

/** `GET [Compartment]/[id]/*?…`: search every type in a compartment (common parameters only). */
export const compartmentAllHandler: FhirHandler = async (ctx, req, { compartment, id }) => {
  if (!isCompartmentType(compartment)) throw notFound(`"${compartment}" is not a compartment`);
  requireValidId(id);
  const membership: Criterion = { kind: 'compartment', compartmentType: compartment, id };
  return answer(ctx, req, [...compartmentMembers(compartment).keys()], `${compartment}/${id}/*`, [membership]);
};
