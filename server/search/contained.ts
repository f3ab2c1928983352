import { loadDefinitions } from '../fhir/definitions.ts';
import { anyTypeVisibility } from './include.ts';
import type { Criterion, SearchRequest, WhereContext } from './model.ts';
import { typesWhere } from './where.ts';

/**
 * `_contained` search (search.html#contained): `_contained=true` searches the resources contained in others
 * (indexed in contained_resource, see the store README), `both` searches both, and `_containedType=container`
 * returns the containers instead of the contained resources. A contained resource is visible only inside a
 * container the caller may see.
 */
export type ContainedMode = Pick<SearchRequest, 'contained' | 'containedType'>;

/** What a search reads rows from, as `FROM <from> r`, and the SQL giving a row's container (`Type/id`) or NULL. */
export function searchSource(mode: ContainedMode): { from: string; container: (alias: string) => string } {
  if (!mode.contained || mode.containedType === 'container') return { from: 'resource', container: () => 'NULL::text' };
  const container = (alias: string) =>
    `(SELECT k.resource_type || '/' || k.id FROM resource k WHERE k.rid = ${alias}.container_rid)`;
  if (mode.contained === 'true') return { from: 'contained_resource', container };
  return {
    from: `(SELECT rid, resource_type, id, last_updated, deleted, content, NULL::bigint AS container_rid FROM resource
      UNION ALL SELECT rid, resource_type, id, last_updated, deleted, content, container_rid FROM contained_resource)`,
    container,
  };
}

/** The WHERE clause of a search over `searchSource(mode)` as `alias`. */
export async function sourceWhere(
  ctx: WhereContext,
  mode: ContainedMode,
  resourceTypes: string[],
  criteria: Criterion[],
  alias: string,
): Promise<string> {
  if (!mode.contained) return typesWhere(ctx, resourceTypes, alias, criteria);
  const allTypes = loadDefinitions().resourceTypes;
  if (mode.containedType === 'container') {
    const inner = await typesWhere(ctx, resourceTypes, 'cr', criteria);
    const matches = [`EXISTS (SELECT 1 FROM contained_resource cr WHERE cr.container_rid = ${alias}.rid AND ${inner})`];
    if (mode.contained === 'both') matches.push(`(${await typesWhere(ctx, resourceTypes, alias, criteria)})`);
    const visible = await anyTypeVisibility(ctx, allTypes, alias);
    return `NOT ${alias}.deleted AND (${matches.join(' OR ')})${visible ? ` AND ${visible}` : ''}`;
  }
  const where = await typesWhere(ctx, resourceTypes, alias, criteria);
  const visible = await anyTypeVisibility(ctx, allTypes, 'k');
  if (!visible) return where;
  const containerVisible = `EXISTS (SELECT 1 FROM resource k WHERE k.rid = ${alias}.container_rid AND NOT k.deleted AND ${visible})`;
  return `${where} AND (${alias}.container_rid IS NULL OR ${containerVisible})`;
}
