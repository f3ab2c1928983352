import { badRequest, preconditionFailed } from '../fhir/outcomes.ts';
import { findMatchingIds } from './conditional.ts';
import { checkQueryText, parseQueryString } from '../core/query.ts';
import type { FhirContext } from '../core/types.ts';

/**
 * Parses the query part of `If-None-Exist` or a conditional URL (`identifier=a|b&_id=x`); a leading `?` or
 * `Type?` (as Bundle `ifNoneExist` values often have) is ignored.
 */
export function parseConditionalQuery(query: string): Record<string, string[]> {
  const out = parseQueryString(query.replace(/^(?:[A-Z][A-Za-z]+)?\?/, ''));
  if (Object.keys(out).length === 0) throw badRequest('Empty conditional query');
  checkQueryText(out, 'The conditional query');
  return out;
}

/** The canonical text of a conditional query: the advisory-lock key that makes a conditional write race-free. */
export function conditionalKey(resourceType: string, query: Record<string, string[]>): string {
  const parts = Object.keys(query)
    .sort()
    .map((k) => `${k}=${[...query[k]].sort().join(',')}`);
  return `conditional:${resourceType}?${parts.join('&')}`;
}

/**
 * Locks the conditional query for the rest of the transaction, then returns the ids matching it. Two requests with
 * the same criteria serialise here, so the second sees the first one's write once it commits.
 */
export async function lockAndMatch(
  ctx: FhirContext,
  resourceType: string,
  query: Record<string, string[]>,
): Promise<string[]> {
  await ctx.repo.advisoryLock(conditionalKey(resourceType, query));
  return findMatchingIds(ctx.repo, resourceType, query, 2, { access: ctx.access, baseUrl: ctx.baseUrl });
}

/** The single match of a conditional update/patch (412 if several match). */
export function singleMatch(ids: string[], what: string): string | undefined {
  if (ids.length > 1) throw preconditionFailed(`${what}: the criteria match more than one resource`);
  return ids[0];
}
