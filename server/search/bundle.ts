import type { BundleLink, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { shapeResource, type ResourceShape } from '../fhir/summary.ts';
import type { FhirResponse } from '../core/types.ts';
import type { SearchPage } from './engine.ts';
import type { FoundResource } from './model.ts';
import type { Cursor, SearchRequest } from './model.ts';
import { encodeCursor } from './parse.ts';

/** What a searchset Bundle is made of. */
export interface SearchsetParts {
  baseUrl: string;
  /** Path of the search relative to the base (`Patient`, `Patient/1/Observation`, ``), for links. */
  path: string;
  request: Pick<SearchRequest, 'used' | 'summary' | 'elements'>;
  page: SearchPage;
  included: FoundResource[];
  warnings: string[];
}

/**
 * Builds the searchset Bundle. Stored JSON is spliced in as it is (no parse/serialise per resource) unless `_summary`
 * or `_elements` shape the entries; links echo the parameters actually used, with a `_cursor` for other pages.
 */
export function searchsetResponse(parts: SearchsetParts): FhirResponse {
  const { page, request } = parts;
  const links: BundleLink[] = [{ relation: 'self', url: link(parts, undefined) }];
  if (page.next || page.previous) links.push({ relation: 'first', url: link(parts, null) });
  if (page.previous) links.push({ relation: 'previous', url: link(parts, page.previous) });
  if (page.next) links.push({ relation: 'next', url: link(parts, page.next) });
  const head: Record<string, unknown> = { resourceType: 'Bundle', type: 'searchset' };
  if (page.total !== undefined) head.total = page.total;
  head.link = links;
  const entries: string[] = [];
  if (request.summary !== 'count') {
    for (const m of page.matches) entries.push(entry(parts, m, 'match'));
    for (const m of parts.included) entries.push(entry(parts, m, 'include'));
  }
  if (parts.warnings.length > 0) {
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: parts.warnings.map((diagnostics) => ({ severity: 'warning', code: 'not-supported', diagnostics })),
    };
    entries.push(JSON.stringify({ resource: outcome, search: { mode: 'outcome' } }));
  }
  const json = JSON.stringify(head);
  const content = entries.length ? `${json.slice(0, -1)},"entry":[${entries.join(',')}]}` : json;
  return { status: 200, content, shaped: true };
}

function entry(parts: SearchsetParts, m: FoundResource, mode: 'match' | 'include'): string {
  const fullUrl = JSON.stringify(
    m.container ? `${parts.baseUrl}/${m.container}#${m.id}` : `${parts.baseUrl}/${m.resourceType}/${m.id}`,
  );
  const { summary, elements } = parts.request;
  const shape: ResourceShape = {};
  if (summary && summary !== 'false' && summary !== 'count') shape.summary = summary;
  if (elements?.length) shape.elements = elements;
  let resource = m.content;
  if (shape.summary || shape.elements)
    resource = JSON.stringify(shapeResource(JSON.parse(m.content) as Resource, shape));
  return `{"fullUrl":${fullUrl},"resource":${resource},"search":{"mode":"${mode}"}}`;
}

/** A link to this search: the current page (undefined), the first page (null), or the page at a cursor. */
function link(parts: SearchsetParts, cursor: Cursor | null | undefined): string {
  const params = new URLSearchParams();
  for (const [name, value] of parts.request.used) {
    if (name === '_cursor' && cursor !== undefined) continue;
    params.append(name, value);
  }
  if (cursor) params.append('_cursor', encodeCursor(cursor));
  const qs = params.toString();
  return `${parts.baseUrl}${parts.path ? '/' + parts.path : ''}${qs ? '?' + qs : ''}`;
}
