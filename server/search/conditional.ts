import { getSearchParameters } from '@medplum/core';
import { badRequest } from '../fhir/outcomes.ts';
import type { Repository } from '../store/repository.ts';

/**
 * Ids of the live resources of `resourceType` that match a search query, at most `limit` of them.
 * Used by conditional create/update/patch/delete and conditional references in transactions.
 * Supports `_id` and exact token parameters (`identifier=system|value`), string and reference equality.
 */
export async function findMatchingIds(
  repo: Repository,
  resourceType: string,
  query: Record<string, string[]>,
  limit = 2,
): Promise<string[]> {
  const params: unknown[] = [resourceType];
  const p = (v: unknown) => `$${params.push(v)}`;
  const where: string[] = ['r.resource_type = $1', 'NOT r.deleted'];
  const spDefs = getSearchParameters(resourceType) ?? {};
  const entries = Object.entries(query).filter(([k]) => !k.startsWith('_') || k === '_id');
  if (entries.length === 0) throw badRequest('A conditional request needs at least one search parameter');
  for (const [name, values] of entries) {
    for (const value of values) {
      if (name === '_id') {
        where.push(`r.id = ANY(${p(value.split(','))})`);
        continue;
      }
      const sp = spDefs[name];
      if (!sp) throw badRequest(`Unknown search parameter "${name}" for ${resourceType}`, name);
      const ors = value.split(',').map((v) => condition(sp.type as string, name, v, p));
      where.push(`(${ors.join(' OR ')})`);
    }
  }
  const sql = `SELECT r.id FROM resource r WHERE ${where.join(' AND ')} LIMIT ${p(limit)}`;
  return (await repo.query<{ id: string }>(sql, params)).rows.map((r) => r.id);
}

function condition(type: string, code: string, value: string, p: (v: unknown) => string): string {
  const owner = `t.resource_type = r.resource_type AND t.id = r.id AND t.code = ${p(code)}`;
  switch (type) {
    case 'token': {
      const bar = value.indexOf('|');
      if (bar < 0) return `EXISTS (SELECT 1 FROM sp_token t WHERE ${owner} AND t.value = ${p(value)})`;
      const system = value.slice(0, bar);
      const code2 = value.slice(bar + 1);
      const sys = system === '' ? 't.system IS NULL' : `t.system = ${p(system)}`;
      const val = code2 === '' ? 'TRUE' : `t.value = ${p(code2)}`;
      return `EXISTS (SELECT 1 FROM sp_token t WHERE ${owner} AND ${sys} AND ${val})`;
    }
    case 'string':
      return `EXISTS (SELECT 1 FROM sp_string t WHERE ${owner} AND t.value LIKE ${p(escapeLike(value.toLowerCase()) + '%')})`;
    case 'reference':
      return `EXISTS (SELECT 1 FROM sp_reference t WHERE ${owner} AND (t.reference = ${p(value)} OR t.target_id = ${p(value.split('/').pop())}))`;
    case 'uri':
      return `EXISTS (SELECT 1 FROM sp_uri t WHERE ${owner} AND t.value = ${p(value)})`;
    default:
      throw badRequest(`Search parameter "${code}" of type ${type} is not supported in conditional requests yet`, code);
  }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}
