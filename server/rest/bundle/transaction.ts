import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { badRequest, conflict, preconditionFailed } from '../../fhir/outcomes.ts';
import { conditionalKey, lockAndMatch, parseConditionalQuery } from '../../search/conditional-query.ts';
import type { FhirRouter } from '../../core/router.ts';
import type { FhirContext, FhirRequestHeaders, FhirResponse, WrittenVersion } from '../../core/types.ts';
import {
  entryFailure,
  entryWork,
  inProcessingOrder,
  responseEntry,
  type EntryWork,
  type ProcessedBundle,
} from './entries.ts';
import { resolveConditionalReferences, rewritePlaceholders, type ReferenceMap } from './references.ts';
import { newResourceId } from '../../store/ids.ts';

/**
 * Processes a transaction Bundle atomically (http.html#transaction): one database transaction for everything, so
 * either every entry takes effect or none does. Ids of creates are reserved first (conditional creates and
 * conditional updates resolved under their lock), then every placeholder (`urn:uuid:`, `urn:oid:`, any fullUrl)
 * and conditional reference in the bundle is rewritten to `Type/id`, then the entries run through the same router
 * as single requests in the spec's order (DELETE, POST, PUT/PATCH, GET). Writes stay buffered in the transaction's
 * Repository and are flushed as multi-row statements. The first failing entry fails the whole transaction with its
 * status and an OperationOutcome naming it.
 */
export async function processTransaction(
  router: FhirRouter,
  ctx: FhirContext,
  bundle: Bundle,
  prefer: FhirRequestHeaders['preferReturn'],
): Promise<ProcessedBundle> {
  const works = (bundle.entry ?? []).map((entry, i) => entryWork(ctx, entry, i));
  checkDistinctIdentities(works);
  return ctx.repo.transaction(async (repo) => {
    const txCtx: FhirContext = { ...ctx, repo };
    const map: ReferenceMap = new Map();
    await reserveIds(txCtx, works, map);
    const conditional = rewritePlaceholders(works, map);
    if (conditional.size > 0) {
      await resolveConditionalReferences(txCtx, conditional, map);
      rewritePlaceholders(works, map);
    }
    const entries: BundleEntry[] = new Array(works.length);
    const written: WrittenVersion[] = [];
    for await (const work of inProcessingOrder(works)) {
      try {
        const res = await router.handle(txCtx, work.request);
        checkResolvedTarget(ctx, work, res);
        written.push(...(res.written ?? []));
        entries[work.index] = responseEntry(txCtx, work, res, prefer);
      } catch (err) {
        throw entryFailure(err, work);
      }
    }
    return { bundle: { resourceType: 'Bundle', type: 'transaction-response', entry: entries }, written };
  });
}

/**
 * A conditional write must land on the resource it was resolved to up front. Its criteria stay locked, but a plain
 * create or delete by another client could still change what they match; then the rewritten references would
 * dangle, so the transaction fails with 409 (retrying resolves again).
 */
function checkResolvedTarget(ctx: FhirContext, work: EntryWork, res: FhirResponse): void {
  if (!work.expected) return;
  const location = res.headers?.location ?? '';
  const actual = location.slice(ctx.baseUrl.length + 1).replace(/\/_history\/[^/]+$/, '');
  if (actual !== work.expected) {
    throw conflict(
      `The conditional criteria now match ${actual || 'nothing'} instead of ${work.expected}; retry the transaction`,
    );
  }
}

/** A resource may appear in a transaction once: the same fullUrl or the same `Type/id` target twice → 400. */
function checkDistinctIdentities(works: EntryWork[]): void {
  const fullUrls = new Set<string>();
  const targets = new Set<string>();
  for (const w of works) {
    if (w.fullUrl && w.method !== 'GET') {
      if (fullUrls.has(w.fullUrl))
        throw badRequest(
          `Bundle.entry[${w.index}]: fullUrl ${w.fullUrl} appears more than once`,
          `Bundle.entry[${w.index}].fullUrl`,
        );
      fullUrls.add(w.fullUrl);
    }
    if (w.method !== 'GET' && w.method !== 'POST' && /^[A-Z][A-Za-z]+\/[^/]+$/.test(w.request.path)) {
      if (targets.has(w.request.path)) {
        throw badRequest(
          `Bundle.entry[${w.index}]: ${w.request.path} is changed by more than one entry`,
          `Bundle.entry[${w.index}].request.url`,
        );
      }
      targets.add(w.request.path);
    }
  }
}

/**
 * Decides the `Type/id` behind every write entry's fullUrl before anything runs. Plain creates get a new UUID
 * (passed to the create handler as `assignedId`). Conditional creates and conditional updates are matched now,
 * under their advisory lock (taken in a fixed order so concurrent transactions cannot deadlock on them): a match
 * maps the fullUrl to it, no match reserves an id; entries with the same criteria share the outcome.
 */
async function reserveIds(ctx: FhirContext, works: EntryWork[], map: ReferenceMap): Promise<void> {
  const conditional: { work: EntryWork; type: string; query: Record<string, string[]>; key: string }[] = [];
  for (const work of works) {
    const { method, request } = work;
    const [type, id] = request.path.split('/');
    if (method === 'POST' && id === undefined && request.headers.ifNoneExist) {
      const query = parseConditionalQuery(request.headers.ifNoneExist);
      conditional.push({ work, type, query, key: conditionalKey(type, query) });
    } else if (method === 'POST' && id === undefined) {
      request.assignedId = newResourceId();
      mapFullUrl(map, work, type, request.assignedId);
    } else if (method === 'PUT' && id === undefined && work.fullUrl && Object.keys(request.query).length > 0) {
      conditional.push({ work, type, query: request.query, key: conditionalKey(type, request.query) });
    } else if ((method === 'PUT' || method === 'PATCH' || method === 'DELETE') && id !== undefined) {
      mapFullUrl(map, work, type, id);
    }
  }
  conditional.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const outcomes = new Map<string, string | undefined>();
  for (const { work, type, query, key } of conditional) {
    if (!outcomes.has(key)) {
      try {
        const ids = await lockAndMatch(ctx, type, query);
        if (ids.length > 1) throw preconditionFailed('The conditional criteria match more than one resource');
        outcomes.set(key, ids[0]);
      } catch (err) {
        throw entryFailure(err, work);
      }
    }
    let id = outcomes.get(key);
    if (id === undefined) {
      id = work.method === 'PUT' ? ((work.request.body as Resource).id ?? newResourceId()) : newResourceId();
      outcomes.set(key, id);
    }
    if (work.method === 'POST') work.request.assignedId = id;
    else if ((work.request.body as Resource).id === undefined) (work.request.body as Resource).id = id;
    work.expected = `${type}/${id}`;
    mapFullUrl(map, work, type, id);
  }
}

/**
 * Maps an entry's fullUrl to its target. For an absolute fullUrl (`http://a/fhir/Patient/1`) the relative form
 * (`Patient/1`) is mapped too, since references in the bundle may use either.
 */
function mapFullUrl(map: ReferenceMap, work: EntryWork, type: string, id: string): void {
  if (!work.fullUrl) return;
  const target = `${type}/${id}`;
  map.set(work.fullUrl, target);
  const m = /^https?:\/\/.+\/([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(work.fullUrl);
  if (m && m[1] !== target) map.set(m[1], target);
}
