import { badRequest } from '../fhir/outcomes.ts';
import type { AccessContext } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import { buildWhere } from './engine.ts';
import { parseSearch } from './parse.ts';

/** Optional context of a match: who asks (their access restriction applies) and the server's base URL. */
export interface MatchOptions {
  access?: AccessContext;
  /** Absolute references to this base are matched as local ones. */
  baseUrl?: string;
}

/**
 * Ids of the live resources of `resourceType` that match a search query, at most `limit` of them, by the full search
 * engine (every parameter, modifier, prefix, chain and `_has`). Used by conditional create/update/patch/delete and
 * conditional references in transactions. Unknown parameters are refused (a conditional write must not widen silently).
 */
export async function findMatchingIds(
  repo: Repository,
  resourceType: string,
  query: Record<string, string[]>,
  limit = 2,
  options: MatchOptions = {},
): Promise<string[]> {
  const request = parseSearch([resourceType], query, 'strict');
  if (request.criteria.length === 0) throw badRequest('A conditional request needs at least one search parameter');
  const scope = { repo, baseUrl: options.baseUrl ?? '', access: options.access };
  const { ctx, where } = await buildWhere(scope, [resourceType], request.criteria);
  const sql = `SELECT r.id FROM resource r WHERE ${where} ORDER BY r.rid LIMIT ${ctx.sql.add(limit)}`;
  return (await repo.query<{ id: string }>(sql, ctx.sql.values)).rows.map((r) => r.id);
}

/**
 * Does the stored resource `resourceType/id` match the search criteria (`code=x&date=ge2020`)? The same engine as
 * search, so a Subscription's criteria mean exactly what a search with them returns. Call it after the write commits
 * (or with the writing transaction's Repository).
 */
export async function matchesCriteria(
  repo: Repository,
  resourceType: string,
  id: string,
  criteria: Record<string, string[]>,
  options: MatchOptions = {},
): Promise<boolean> {
  const query = { ...criteria, _id: [...(criteria._id ?? []), id] };
  return (await findMatchingIds(repo, resourceType, query, 1, options)).length > 0;
}
