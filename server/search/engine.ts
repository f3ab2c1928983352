import type { Criterion, Cursor, FoundResource, SearchRequest, SearchScope, WhereContext } from './model.ts';
import { keysetCondition, orderBy, sortColumns } from './sort.ts';
import { SqlParams } from './sql.ts';
import { searchSource, sourceWhere, type ContainedMode } from './contained.ts';
import { plannedRows } from './estimate.ts';

/** One page of a search. */
export interface SearchPage {
  matches: FoundResource[];
  /** Cursor of the next page, when there are more matches after this page. */
  next?: Cursor;
  /** Cursor of the previous page, when this page is not the first. */
  previous?: Cursor;
  total?: number;
}

/**
 * The WHERE clause of a request (over `searchSource(mode)` as `alias`), with its own parameters — or with `sql`'s,
 * when several clauses go into one statement.
 */
export async function buildWhere(
  scope: SearchScope,
  resourceTypes: string[],
  criteria: Criterion[],
  mode: ContainedMode = {},
  alias = 'r',
  sql = new SqlParams(),
) {
  const ctx: WhereContext = { sql, baseUrl: scope.baseUrl, repo: scope.repo, access: scope.access };
  const where = await sourceWhere(ctx, mode, resourceTypes, criteria, alias);
  return { ctx, where };
}

/**
 * Runs a search: one page of matches in a stable order (sort keys, then the resource's immutable rid), paged with a
 * keyset cursor so pages neither repeat nor skip resources while others write; plus the total when asked for.
 */
export async function executeSearch(scope: SearchScope, search: SearchRequest): Promise<SearchPage> {
  const req: SearchRequest = { ...search, total: totalMode(scope, search) };
  const page: SearchPage = { matches: [] };
  const countOnly = req.summary === 'count' || req.count === 0;
  if (!countOnly) {
    const { ctx, where } = await buildWhere(scope, req.resourceTypes, req.criteria, req);
    const { from, container } = searchSource(req);
    const sql = ctx.sql;
    const columns = sortColumns(sql, req.resourceTypes[0], 'r', req.sort);
    const reverse = req.cursor?.direction === 'previous';
    const keyset = req.cursor ? `WHERE ${keysetCondition(sql, 'q', columns, req.cursor)}` : '';
    const sortSelect = columns.map((c, i) => `, ${c.expression} AS s${i}`).join('');
    const sortNames = columns.map((_, i) => `, q.s${i}`).join('');
    // Candidates are picked by rid alone (an index-only probe of each); only the page's rows are read whole.
    const text = `SELECT q.rid, c.resource_type AS "resourceType", c.id${sortNames}, c.content, ${container('c')} AS container FROM (
        SELECT q.* FROM (SELECT r.rid${sortSelect} FROM ${from} r WHERE ${where}) q
        ${keyset} ORDER BY ${orderBy('q', columns, reverse)} LIMIT ${sql.add(req.count + 1)}
      ) q JOIN ${from} c ON c.rid = q.rid ORDER BY ${orderBy('q', columns, reverse)}`;
    const { rows } = await scope.repo.query<FoundResource & Record<string, unknown>>(text, sql.values);
    const more = rows.length > req.count;
    const pageRows = rows.slice(0, req.count);
    if (reverse) pageRows.reverse();
    page.matches = pageRows.map((r) => ({
      rid: Number(r.rid),
      resourceType: r.resourceType,
      id: r.id,
      content: r.content,
      container: r.container,
    }));
    const cursorOf = (row: Record<string, unknown>, direction: Cursor['direction']): Cursor => ({
      direction,
      rid: Number(row.rid),
      values: columns.map((_, i) => (row[`s${i}`] ?? null) as string | number | null),
    });
    const first = pageRows[0];
    const last = pageRows[pageRows.length - 1];
    if (last && (reverse ? !!req.cursor : more)) page.next = cursorOf(last, 'next');
    if (first && (reverse ? more : !!req.cursor)) page.previous = cursorOf(first, 'previous');
    if (!req.cursor && !more && req.total !== 'estimate') page.total = page.matches.length;
  }
  if (countOnly || req.total === 'accurate') page.total = await countMatches(scope, req);
  else if (req.total === 'estimate') page.total = await estimateMatches(scope, req);
  if (req.total === 'none') delete page.total;
  return page;
}

/**
 * The total a search gives. `_total=estimate` under an access restriction becomes an exact count of what the caller
 * may see: the planner estimates from statistics of the whole table (9,709 for a token that sees 98), which would
 * tell a confined token how much it cannot see.
 */
function totalMode(scope: SearchScope, req: SearchRequest): SearchRequest['total'] {
  const confined = (type: string) => scope.access?.visibleWhere?.(type) !== undefined;
  return req.total === 'estimate' && req.resourceTypes.some(confined) ? 'accurate' : req.total;
}

/** The exact number of matches. */
export async function countMatches(
  scope: SearchScope,
  req: Pick<SearchRequest, 'resourceTypes' | 'criteria'> & ContainedMode,
): Promise<number> {
  const { ctx, where } = await buildWhere(scope, req.resourceTypes, req.criteria, req);
  const { rows } = await scope.repo.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${searchSource(req).from} r WHERE ${where}`,
    ctx.sql.values,
  );
  return Number(rows[0].n);
}

/** The planner's estimate of the number of matches (no scan). */
async function estimateMatches(scope: SearchScope, req: SearchRequest): Promise<number> {
  const { ctx, where } = await buildWhere(scope, req.resourceTypes, req.criteria, req);
  return plannedRows(scope.repo, `SELECT r.rid FROM ${searchSource(req).from} r WHERE ${where}`, ctx.sql.values);
}
