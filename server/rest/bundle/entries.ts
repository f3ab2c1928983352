import type { Binary, Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { STATUS_CODES } from 'node:http';
import { badRequest, informational, OutcomeError, toOutcomeError } from '../../fhir/outcomes.ts';
import { fhirRequest } from '../../core/request.ts';
import { responseResource } from '../../core/respond.ts';
import type {
  FhirContext,
  FhirMethod,
  FhirRequest,
  FhirRequestHeaders,
  FhirResponse,
  WrittenVersion,
} from '../../core/types.ts';

/** One Bundle entry turned into the request it stands for. */
export interface EntryWork {
  /** Position in the request Bundle (the response entry goes to the same position). */
  index: number;
  method: FhirMethod;
  /** `request.url` as given, for messages. */
  url: string;
  fullUrl?: string;
  request: FhirRequest;
  /** `Type/id` a conditional write was resolved to before the bundle ran (references were rewritten to it). */
  expected?: string;
}

const METHODS = new Set<FhirMethod>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const JSON_PATCH = 'application/json-patch+json';

/** Processing order of the spec (http.html#trules): DELETE, POST, PUT/PATCH, GET. */
const METHOD_ORDER: Record<FhirMethod, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3 };

const YIELD_EVERY = 16;

/**
 * Entries in processing order, handing the event loop a turn every few entries: a large bundle is CPU work
 * (validation, indexing) that would otherwise starve other requests and the replies of batches already sent to
 * the database.
 */
export async function* inProcessingOrder(works: EntryWork[]): AsyncGenerator<EntryWork> {
  let n = 0;
  for (const work of processingOrder(works)) {
    if (++n % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    yield work;
  }
}

/** Entries in processing order; within one method, conditional ones (which query the store) first. */
function processingOrder(works: EntryWork[]): EntryWork[] {
  const rank = (w: EntryWork) => METHOD_ORDER[w.method] * 2 + (isConditional(w) ? 0 : 1);
  return [...works].sort((a, b) => rank(a) - rank(b) || a.index - b.index);
}

function isConditional(w: EntryWork): boolean {
  return !!w.request.headers.ifNoneExist || (w.method !== 'GET' && Object.keys(w.request.query).length > 0);
}

/** A processed batch or transaction: the response Bundle and the versions its entries wrote, in order. */
export interface ProcessedBundle {
  bundle: Bundle;
  written: WrittenVersion[];
}

/** Checks the body is a batch or transaction Bundle and returns it. */
export function requireBundleType(bundle: Bundle): 'batch' | 'transaction' {
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    throw badRequest(
      `POST to the base takes a batch or transaction Bundle, not type "${bundle.type ?? ''}"`,
      'Bundle.type',
    );
  }
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry))
    throw badRequest('Bundle.entry must be an array', 'Bundle.entry');
  return bundle.type;
}

/**
 * Turns an entry into a FhirRequest for the router: method and URL from `entry.request` (relative to the base, or
 * absolute on this server's base), the resource as body (a JSON Patch travels as a Binary), conditional headers
 * from `ifMatch`/`ifNoneMatch`/`ifNoneExist`/`ifModifiedSince`. Handlers answer with representations; the
 * Bundle's Prefer is applied when the response entry is built. 400 naming the entry when it is unusable.
 */
export function entryWork(ctx: FhirContext, entry: BundleEntry, index: number): EntryWork {
  const where = `Bundle.entry[${index}]`;
  if (!entry || typeof entry !== 'object') throw badRequest(`${where} is not an object`, where);
  const method = entry.request?.method as FhirMethod;
  if (!METHODS.has(method))
    throw badRequest(`${where}.request.method must be one of GET, POST, PUT, PATCH, DELETE`, `${where}.request.method`);
  const url = entry.request?.url;
  if (typeof url !== 'string' || url === '')
    throw badRequest(`${where}.request.url is missing`, `${where}.request.url`);
  const headers: FhirRequestHeaders = {
    ifMatch: entry.request?.ifMatch,
    ifNoneMatch: entry.request?.ifNoneMatch,
    ifNoneExist: entry.request?.ifNoneExist,
    ifModifiedSince: entry.request?.ifModifiedSince,
    preferReturn: 'representation',
  };
  const request = fhirRequest({ method, url, baseUrl: ctx.baseUrl, headers, where: `${where}.request.url` });
  if (request.path === '' && method === 'POST') {
    throw badRequest(`${where}: batch and transaction Bundles cannot be nested`, `${where}.request.url`);
  }
  for (const name of ['ifMatch', 'ifNoneMatch', 'ifNoneExist', 'ifModifiedSince'] as const) {
    const value = entry.request?.[name];
    if (value !== undefined && typeof value !== 'string')
      throw badRequest(`${where}.request.${name} must be a string`, `${where}.request.${name}`);
  }
  if (entry.fullUrl !== undefined && typeof entry.fullUrl !== 'string')
    throw badRequest(`${where}.fullUrl must be a string`, `${where}.fullUrl`);
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    if (!entry.resource || typeof entry.resource !== 'object')
      throw badRequest(`${where} has no resource for its ${method}`, `${where}.resource`);
    Object.assign(request, bodyOf(entry.resource, method, where));
  }
  return { index, method, url, fullUrl: entry.fullUrl, request };
}

function bodyOf(resource: Resource, method: FhirMethod, where: string): Pick<FhirRequest, 'body' | 'contentType'> {
  if (method === 'PATCH' && resource.resourceType === 'Binary') {
    const binary = resource as Binary;
    if (binary.contentType !== JSON_PATCH || typeof binary.data !== 'string') {
      throw badRequest(`${where}: a PATCH Binary must hold base64 ${JSON_PATCH}`, `${where}.resource`);
    }
    try {
      return { body: JSON.parse(Buffer.from(binary.data, 'base64').toString('utf8')), contentType: JSON_PATCH };
    } catch {
      throw badRequest(`${where}: the PATCH Binary does not hold JSON`, `${where}.resource.data`);
    }
  }
  return { body: resource, contentType: 'application/fhir+json' };
}

/**
 * The response entry of a processed request: status line, Location (relative), ETag, lastModified, and the
 * resource or outcome as `Prefer` asks (writes only; reads always carry what they read).
 */
export function responseEntry(
  ctx: FhirContext,
  work: EntryWork,
  res: FhirResponse,
  prefer: FhirRequestHeaders['preferReturn'],
): BundleEntry {
  const resource = responseResource(res);
  const h = res.headers ?? {};
  const entry: BundleEntry = { response: { status: statusLine(res.status) } };
  const response = entry.response as NonNullable<BundleEntry['response']>;
  if (h.location)
    response.location = h.location.startsWith(ctx.baseUrl + '/')
      ? h.location.slice(ctx.baseUrl.length + 1)
      : h.location;
  if (h.etag) response.etag = h.etag;
  const lastModified =
    resource?.meta?.lastUpdated ?? (h.lastModified ? new Date(h.lastModified).toISOString() : undefined);
  if (lastModified && h.lastModified) response.lastModified = lastModified;
  if (!resource) return entry;
  if (resource.resourceType === 'OperationOutcome' && work.method !== 'GET') {
    response.outcome = resource;
    return entry;
  }
  if (work.method !== 'GET' && prefer === 'minimal') return entry;
  if (work.method !== 'GET' && prefer === 'OperationOutcome') {
    response.outcome = informational(`${work.method} ${work.url}: ${statusLine(res.status)}`);
    return entry;
  }
  if (resource.id && resource.resourceType !== 'Bundle')
    entry.fullUrl = `${ctx.baseUrl}/${resource.resourceType}/${resource.id}`;
  entry.resource = resource;
  return entry;
}

/** The response entry of a failed batch entry: its status and OperationOutcome. */
export function errorEntry(err: unknown): BundleEntry {
  const e = toOutcomeError(err);
  return { response: { status: statusLine(e.status), outcome: e.outcome } };
}

/**
 * The error a transaction fails with when one entry fails: the entry's status, its issues naming the entry.
 * Real bugs pass through unchanged so the door logs them with their stack.
 */
export function entryFailure(err: unknown, work: Pick<EntryWork, 'index' | 'method' | 'url'>): unknown {
  const e = toOutcomeError(err);
  if (e.status >= 500) return err;
  const where = `Bundle.entry[${work.index}]`;
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: e.outcome.issue.map((issue) => ({
      ...issue,
      diagnostics: `${where} (${work.method} ${work.url}): ${issue.diagnostics ?? issue.details?.text ?? issue.code}`,
      expression: [where, ...(issue.expression ?? [])],
    })),
  };
  return new OutcomeError(e.status, outcome);
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}
