import type { Bundle, Resource } from '@medplum/fhirtypes';
import { fhirRequest } from '../core/request.ts';
import { responseResource } from '../core/respond.ts';
import type { FhirRouter } from '../core/router.ts';
import type { AccessContext, FhirContext } from '../core/types.ts';
import { tooCostly } from '../fhir/outcomes.ts';

/** The server's own access, for the checks scheduling makes inside a write (nothing it reads leaves the server). */
export const SCHEDULING_ACCESS: AccessContext = { kind: 'system', clientId: 'scheduling' };

/** Most pages (of 1000) one scheduling search follows before refusing as too costly rather than answering partly. */
const MAX_PAGES = 10;

/**
 * Searches through the router with `ctx`'s access (the access guard confines it like any search), following `next`
 * links, and returns the matches. A search with more than MAX_PAGES pages is refused (400 too-costly).
 */
export async function searchAll<T extends Resource>(
  router: FhirRouter,
  ctx: FhirContext,
  resourceType: T['resourceType'],
  query: Record<string, string | string[]>,
): Promise<T[]> {
  const params = new URLSearchParams({ _count: '1000' });
  for (const [name, value] of Object.entries(query)) for (const v of [value].flat()) params.append(name, v);
  let url: string | undefined = `${resourceType}?${params}`;
  const found: T[] = [];
  for (let page = 0; url; page++) {
    if (page === MAX_PAGES) throw tooCostly(`Too many ${resourceType} resources to check for scheduling`);
    const res = await router.handle(ctx, fhirRequest({ method: 'GET', url, baseUrl: ctx.baseUrl }));
    const bundle = responseResource(res) as Bundle<T>;
    for (const e of bundle.entry ?? []) if (e.search?.mode !== 'include' && e.resource) found.push(e.resource);
    url = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return found;
}
