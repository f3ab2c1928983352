import { loadDefinitions } from '../fhir/definitions.ts';
import type { FoundResource, IncludeSpec, SearchScope, WhereContext } from './model.ts';
import { searchParam, searchParams } from '../fhir/search-params/registry.ts';
import { SqlParams } from './sql.ts';
import { visibilitySql } from './where.ts';

/** Most resources `_include`/`_revinclude` add to one page; more are dropped with a warning. */
export const MAX_INCLUDED = 1000;
/** Rounds of `:iterate` after the first. */
const MAX_ITERATIONS = 4;

/** The resources a page's `_include` and `_revinclude` bring in (never the page's own matches), with warnings. */
export async function resolveIncludes(
  scope: SearchScope,
  includes: IncludeSpec[],
  revincludes: IncludeSpec[],
  matches: FoundResource[],
): Promise<{ included: FoundResource[]; warnings: string[] }> {
  const seen = new Set(matches.map((m) => m.rid));
  const included: FoundResource[] = [];
  const warnings: string[] = [];
  let sources = matches;
  for (let round = 0; round <= MAX_ITERATIONS && sources.length > 0; round++) {
    const fresh: FoundResource[] = [];
    const add = (rows: FoundResource[]) => {
      for (const row of rows) {
        if (seen.has(row.rid)) continue;
        seen.add(row.rid);
        fresh.push(row);
      }
    };
    for (const spec of includes) if (round === 0 || spec.iterate) add(await forward(scope, spec, sources));
    for (const spec of revincludes) if (round === 0 || spec.iterate) add(await reverse(scope, spec, sources));
    included.push(...fresh);
    if (included.length > MAX_INCLUDED) {
      included.length = MAX_INCLUDED;
      warnings.push(`More than ${MAX_INCLUDED} resources to include; only the first ${MAX_INCLUDED} are returned`);
      break;
    }
    sources = fresh;
  }
  return { included, warnings };
}

function whereContext(scope: SearchScope): WhereContext {
  return { sql: new SqlParams(), baseUrl: scope.baseUrl, repo: scope.repo, access: scope.access };
}

/** `Source:code[:Target]`: the resources the sources refer to. */
async function forward(scope: SearchScope, spec: IncludeSpec, sources: FoundResource[]): Promise<FoundResource[]> {
  const ctx = whereContext(scope);
  const byType = new Map<string, number[]>();
  for (const s of sources) {
    if (spec.sourceType !== '*' && s.resourceType !== spec.sourceType) continue;
    byType.set(s.resourceType, [...(byType.get(s.resourceType) ?? []), s.rid]);
  }
  const branches: string[] = [];
  const targetTypes = new Set<string>();
  for (const [type, rids] of byType) {
    const params = spec.code
      ? [searchParam(type, spec.code)]
      : searchParams(type).filter((p) => p.type === 'reference');
    const codes = params.filter((p) => p?.type === 'reference').map((p) => p!.code);
    if (codes.length === 0) continue;
    for (const p of params)
      (spec.targetType ? [spec.targetType] : (p?.target ?? [])).forEach((t) => targetTypes.add(t));
    branches.push(`(ref.rid = ANY(${ctx.sql.add(rids, 'bigint[]')}) AND ref.resource_type = ${ctx.sql.add(type)}
      AND ref.code = ANY(${ctx.sql.add(codes, 'text[]')}))`);
  }
  if (branches.length === 0) return [];
  const target = spec.targetType ? ` AND ref.target_type = ${ctx.sql.add(spec.targetType)}` : '';
  const visible = await anyTypeVisibility(ctx, [...targetTypes], 'r');
  return run(
    scope,
    ctx,
    `SELECT DISTINCT r.rid, r.resource_type AS "resourceType", r.id, r.content
    FROM sp_reference ref JOIN resource r ON r.resource_type = ref.target_type AND r.id = ref.target_id
    WHERE (${branches.join(' OR ')})${target} AND NOT r.deleted${visible ? ` AND ${visible}` : ''}
    LIMIT ${ctx.sql.add(MAX_INCLUDED + 1)}`,
  );
}

/** `Source:code[:Target]` reversed: the resources of type Source whose `code` refers to one of the sources. */
async function reverse(scope: SearchScope, spec: IncludeSpec, sources: FoundResource[]): Promise<FoundResource[]> {
  const ctx = whereContext(scope);
  const targets = spec.targetType ? sources.filter((s) => s.resourceType === spec.targetType) : sources;
  if (targets.length === 0) return [];
  const ids = ctx.sql.add([...new Set(targets.map((s) => s.id))], 'text[]');
  const keys = ctx.sql.add(
    targets.map((s) => `${s.resourceType}/${s.id}`),
    'text[]',
  );
  const conds = [
    `ref.target_id = ANY(${ids})`,
    `ref.target_type || '/' || ref.target_id = ANY(${keys})`,
    'NOT r.deleted',
  ];
  let visible: string | undefined;
  if (spec.sourceType === '*') {
    visible = await anyTypeVisibility(ctx, loadDefinitions().resourceTypes, 'r');
  } else {
    conds.push(`ref.resource_type = ${ctx.sql.add(spec.sourceType)}`);
    if (spec.code) conds.push(`ref.code = ${ctx.sql.add(spec.code)}`);
    visible = await visibilitySql(ctx, spec.sourceType, 'r');
  }
  if (visible) conds.push(visible);
  return run(
    scope,
    ctx,
    `SELECT DISTINCT r.rid, r.resource_type AS "resourceType", r.id, r.content
    FROM sp_reference ref JOIN resource r ON r.rid = ref.rid WHERE ${conds.join(' AND ')} LIMIT ${ctx.sql.add(MAX_INCLUDED + 1)}`,
  );
}

/**
 * The access restriction on a row that may be of any of `types`: restricted types must pass their criteria, others
 * pass as they are. Undefined when none of the types is restricted.
 */
export async function anyTypeVisibility(
  ctx: WhereContext,
  types: string[],
  alias: string,
): Promise<string | undefined> {
  const restricted: string[] = [];
  for (const type of types) {
    const visible = await visibilitySql(ctx, type, alias);
    if (visible) restricted.push(`(${alias}.resource_type <> ${ctx.sql.add(type)} OR ${visible})`);
  }
  return restricted.length ? restricted.join(' AND ') : undefined;
}

async function run(scope: SearchScope, ctx: WhereContext, text: string): Promise<FoundResource[]> {
  const { rows } = await scope.repo.query<FoundResource>(text, ctx.sql.values);
  return rows.map((r) => ({ ...r, rid: Number(r.rid) }));
}
