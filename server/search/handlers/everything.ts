import { loadDefinitions } from '../../fhir/definitions.ts';
import { badRequest, notFound } from '../../fhir/outcomes.ts';
import { requireValidId } from '../../core/router.ts';
import type { FhirHandler } from '../../core/types.ts';
import { searchsetResponse } from '../bundle.ts';
import { compartmentMembers } from '../compartments.ts';
import { dateRange } from '../../fhir/search-params/dates.ts';
import type { SearchPage } from '../engine.ts';
import type { FoundResource } from '../model.ts';
import { anyTypeVisibility } from '../include.ts';
import type { SearchRequest } from '../model.ts';
import { decodeCursor, MAX_COUNT } from '../parse.ts';
import { SqlParams } from '../sql.ts';
import { withSearchSession } from '../session.ts';
import type { WhereContext } from '../model.ts';
import { typeWhere } from '../where.ts';
import { scopeOf } from './search.ts';

const DEFAULT_EVERYTHING_COUNT = 100;

/**
 * `GET Patient/[id]/$everything`: the patient, every resource in its compartment (the spec's CompartmentDefinition),
 * and the resources those refer to that belong to no patient (practitioners, organizations, locations, medications…).
 * `_since` (changed since), `_type` (only these types), `_count` and keyset paging by `_cursor`; access restrictions
 * apply to every type.
 */
export const everythingHandler: FhirHandler = async (ctx, req, { id }) => {
  requireValidId(id);
  const one = (name: string) => req.query[name]?.[0];
  const used: [string, string][] = [];
  const warnings: string[] = [];
  let count = DEFAULT_EVERYTHING_COUNT;
  if (one('_count') !== undefined) {
    count = Number(one('_count'));
    if (!Number.isInteger(count) || count < 1) throw badRequest('_count must be a positive integer', '_count');
    count = Math.min(count, MAX_COUNT);
    used.push(['_count', String(one('_count'))]);
  }
  const types = (req.query._type ?? [])
    .flatMap((v) => v.split(','))
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of types)
    if (!loadDefinitions().resourceTypeSet.has(t)) throw badRequest(`_type: unknown type "${t}"`, '_type');
  if (types.length) used.push(['_type', types.join(',')]);
  const since = one('_since');
  if (since !== undefined && !dateRange(since)) throw badRequest('_since must be an instant', '_since');
  if (since !== undefined) used.push(['_since', since]);
  let after = 0;
  const cursorText = one('_cursor');
  if (cursorText !== undefined) {
    after = decodeCursor(cursorText).rid;
    used.push(['_cursor', cursorText]);
  }
  for (const name of Object.keys(req.query)) {
    if (!['_count', '_type', '_since', '_cursor', '_format', '_pretty'].includes(name))
      warnings.push(`${name} is not supported by $everything; it was ignored`);
  }

  // One search session (server/search/session.ts): the timeout applies, and the client leaving cancels it.
  const rows = await withSearchSession(ctx.repo, ctx.signal, async (repo) => {
    const sql = new SqlParams();
    const wctx: WhereContext = { sql, baseUrl: ctx.baseUrl, repo, access: ctx.access };
    const patientWhere = await typeWhere(wctx, 'Patient', 'p', [
      { kind: 'value', name: '_id', code: '_id', values: [id] },
    ]);
    const exists = await repo.query(`SELECT 1 FROM resource p WHERE ${patientWhere}`, sql.values);
    if (exists.rowCount === 0) throw notFound(`Patient/${id} is not known`);
    const { text, params } = await everythingQuery({ ...ctx, repo }, id, { types, since, after, count });
    return (await repo.query<FoundResource>(text, params)).rows;
  });
  const matches = rows.slice(0, count).map((r) => ({ ...r, rid: Number(r.rid) }));
  const page: SearchPage = { matches };
  if (rows.length > count) page.next = { direction: 'next', rid: matches[matches.length - 1].rid, values: [] };
  const request: Pick<SearchRequest, 'used' | 'summary' | 'elements'> = { used };
  return searchsetResponse({
    baseUrl: ctx.baseUrl,
    path: `Patient/${id}/$everything`,
    request,
    page,
    included: [],
    warnings,
  });
};

async function everythingQuery(
  ctx: Parameters<FhirHandler>[0],
  id: string,
  o: { types: string[]; since?: string; after: number; count: number },
) {
  const sql = new SqlParams();
  const wctx: WhereContext = { sql, baseUrl: ctx.baseUrl, repo: ctx.repo, access: scopeOf(ctx).access };
  const memberTypes: string[] = [];
  const memberCodes: string[] = [];
  for (const [type, codes] of compartmentMembers('Patient')) {
    for (const code of codes) {
      memberTypes.push(type);
      memberCodes.push(code);
    }
  }
  const pid = sql.add(id);
  const members = `SELECT m.rid FROM sp_reference m
    WHERE m.target_id = ${pid} AND m.target_type = 'Patient'
      AND (m.resource_type, m.code) IN (SELECT * FROM unnest(${sql.add(memberTypes, 'text[]')}, ${sql.add(memberCodes, 'text[]')}))`;
  const outsideCompartment = loadDefinitions().resourceTypes.filter((t) => !compartmentMembers('Patient').has(t));
  const referenced = `SELECT x.target_type, x.target_id FROM sp_reference x
    WHERE x.rid IN (${members}) AND x.target_type = ANY(${sql.add(outsideCompartment, 'text[]')})`;
  const conds = [
    'NOT r.deleted',
    `(r.rid IN (${members}) OR (r.resource_type = 'Patient' AND r.id = ${pid}) OR (r.resource_type, r.id) IN (${referenced}))`,
    `r.rid > ${sql.add(o.after, 'bigint')}`,
  ];
  if (o.types.length) conds.push(`r.resource_type = ANY(${sql.add(o.types, 'text[]')})`);
  if (o.since) conds.push(`r.last_updated >= ${sql.add((dateRange(o.since) as [string, string])[0], 'timestamptz')}`);
  const visible = await anyTypeVisibility(wctx, loadDefinitions().resourceTypes, 'r');
  if (visible) conds.push(visible);
  const text = `SELECT q.rid, q.resource_type AS "resourceType", q.id, c.content FROM (
      SELECT r.rid, r.resource_type, r.id FROM resource r WHERE ${conds.join(' AND ')} ORDER BY r.rid LIMIT ${sql.add(o.count + 1)}
    ) q JOIN resource c ON c.rid = q.rid ORDER BY q.rid`;
  return { text, params: sql.values };
}
