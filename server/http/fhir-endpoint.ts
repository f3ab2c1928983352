import type { Resource } from '@medplum/fhirtypes';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, outcomeError, toOutcomeError } from '../fhir/outcomes.ts';
import { parseJsonKeepingDecimals } from '../fhir/decimals.ts';
import { findIllFormedValue } from '../fhir/well-formed.ts';
import { parseQueryString } from '../core/query.ts';
import { fhirRequest } from '../core/request.ts';
import type { FhirRouter } from '../core/router.ts';
import { parseShape, shapeResource, type ResourceShape } from '../fhir/summary.ts';
import type { AccessContext, FhirContext, FhirRequest, FhirResponse } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import { hasBody, readBody } from './body.ts';
import { acceptsEventStream, acceptWithoutEventStream, sendEventStream } from './event-stream.ts';
import { bodyKind, MEDIA_TYPES, negotiateFormat, type FhirFormat } from './format.ts';
import { parseJsonBody } from './json.ts';
import type { Metrics } from './metrics.ts';
import { header, protocolOf } from './request-info.ts';
import { parseXmlResource, toXml } from './xml.ts';

/** What the FHIR endpoint needs from the rest of the server. */
export interface FhirEndpointDeps {
  router: FhirRouter;
  repo: Repository;
  metrics: Metrics;
  /** Fixed public base URL, or undefined to derive it from each request. */
  baseUrl?: string;
  /** Largest request body accepted (413 above). */
  maxBodyBytes: number;
  /**
   * Admits a request (server/auth: CORS, bearer token, rate limit): the caller's access, or undefined when it has
   * answered the request itself (401, 429, a CORS preflight).
   */
  admit(req: IncomingMessage, res: ServerResponse): Promise<AccessContext | undefined>;
}

/** Interactions answering one stored resource, where `_summary` and `_elements` apply to the response body. */
const SHAPED_INTERACTIONS = new Set(['read', 'vread']);

/**
 * The HTTP door of the FHIR API: admits the request, turns it into a FhirRequest, calls the router, and writes the
 * FhirResponse (or the OperationOutcome of an error) in the negotiated format. It runs on node's own request and
 * response objects, not express's: express swaps the prototypes of both on every request, which makes V8 handle them
 * slowly everywhere after (a read by id took 230 µs CPU behind express, 100 µs here). The promise it returns never
 * rejects.
 */
export function fhirEndpoint(deps: FhirEndpointDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const started = process.hrtime.bigint();
    let interaction = 'unknown';
    let resourceType = '';
    let format: FhirFormat = 'json';
    let pretty = false;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const query = parseQueryString(url.search.slice(1));
      pretty = query._pretty?.[0] === 'true';
      const access = await deps.admit(req, res);
      if (!access) return;
      const body = hasBody(req) ? await readBody(req, deps.maxBodyBytes) : undefined;
      format = negotiateFormat(query._format?.[0], acceptWithoutEventStream(header(req, 'accept')));
      const fhirReq = toFhirRequest(req, url, query, body);
      const first = fhirReq.path.split('/')[0];
      resourceType = /^[A-Z][A-Za-z]+$/.test(first) ? first : '';
      const match = deps.router.match(fhirReq);
      interaction = match.interaction;
      // _summary/_elements shape single-resource reads here; search shapes its own entries (see rest/summary.ts).
      const shape = SHAPED_INTERACTIONS.has(interaction) ? parseShape(query) : undefined;
      const ctx: FhirContext = {
        repo: deps.repo,
        baseUrl: deps.baseUrl ?? `${protocolOf(req)}://${req.headers.host}/fhir`,
        requestId: req.id ?? '',
        access,
        signal: clientGone(res),
      };
      const result = await deps.router.dispatch(ctx, fhirReq, match);
      if (result.events) await sendEventStream(res, { ...result, events: result.events });
      else sendResponse(res, result, format, pretty, shape);
    } catch (err) {
      const outcome = toOutcomeError(err);
      // 503 is the database being away (logged once by its monitor), not a bug: no stack per request.
      if (outcome.status >= 500 && outcome.status !== 503) req.log?.error({ err }, 'request failed');
      else req.log?.info({ status: outcome.status, issue: outcome.message }, 'request refused');
      if (res.headersSent) res.destroy();
      else sendError(req, res, outcome.status, outcome.outcome, format, pretty);
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.observeRequest(interaction, resourceType, res.statusCode, seconds);
    }
  };
}

/** A signal aborted when the connection closes before the response is sent (the client went away). */
function clientGone(res: ServerResponse): AbortSignal {
  const gone = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  return gone.signal;
}

function toFhirRequest(
  req: IncomingMessage,
  url: URL,
  query: Record<string, string[]>,
  raw: Buffer | undefined,
): FhirRequest {
  // HEAD is GET without the body (RFC 9110 9.3.2): node's response drops the body of an answer to HEAD.
  const fhirReq = fhirRequest({
    method: req.method ?? '',
    url: url.pathname.replace(/^\/fhir\/?/, ''),
    query,
    where: 'The request path',
    headers: {
      ifMatch: header(req, 'if-match'),
      ifNoneMatch: header(req, 'if-none-match'),
      ifNoneExist: header(req, 'if-none-exist'),
      ifModifiedSince: header(req, 'if-modified-since'),
      ...parsePrefer(header(req, 'prefer')),
      ...(acceptsEventStream(header(req, 'accept')) ? { acceptEventStream: true } : {}),
    },
  });
  if (raw && raw.length > 0) {
    const contentType = header(req, 'content-type');
    const kind = bodyKind(contentType);
    fhirReq.contentType = (contentType ?? '').toLowerCase().split(';')[0].trim();
    const text = raw.toString('utf8').replace(/^\uFEFF/, ''); // a byte-order mark is not content
    if (kind === 'xml') fhirReq.body = parseXmlResource(text);
    else if (kind === 'form') parseQueryString(text, query);
    else fhirReq.body = parseJsonBody(text);
    if (fhirReq.body === null || (fhirReq.body !== undefined && typeof fhirReq.body !== 'object')) {
      throw badRequest('The body must be a FHIR resource (a JSON object), or a JSON Patch array');
    }
    // JSON strings reach NUL and lone surrogates only through `\u` escapes; XML through character references.
    if (fhirReq.body !== undefined && (kind === 'xml' || text.includes('\\u'))) refuseIllFormed(fhirReq.body);
  }
  return fhirReq;
}

/** Sends an error response; if even that fails (a bug), drops the connection rather than leave the client waiting. */
function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  resource: Resource,
  format: FhirFormat,
  pretty: boolean,
): void {
  try {
    sendResponse(res, { status, resource }, format, pretty);
  } catch (err) {
    req.log?.error({ err }, 'the error response could not be sent');
    res.destroy();
  }
}

/** 400 for a body holding a value no FHIR content may hold (NUL, a lone surrogate, a number out of range). */
function refuseIllFormed(body: unknown): void {
  const root =
    typeof (body as { resourceType?: unknown })?.resourceType === 'string'
      ? (body as { resourceType: string }).resourceType
      : 'body';
  const bad = findIllFormedValue(body, root);
  if (bad)
    throw outcomeError(400, [{ severity: 'error', code: 'value', diagnostics: bad.problem, expression: [bad.path] }]);
}

function parsePrefer(
  header: string | undefined,
): Pick<FhirRequest['headers'], 'preferReturn' | 'preferHandling' | 'preferAsync'> {
  const out: Pick<FhirRequest['headers'], 'preferReturn' | 'preferHandling' | 'preferAsync'> = {};
  for (const part of (header ?? '').split(/[,;]/)) {
    const [k, v] = part
      .trim()
      .split('=')
      .map((s) => s?.trim().replace(/"/g, ''));
    if (k === 'return' && (v === 'minimal' || v === 'representation' || v === 'OperationOutcome')) out.preferReturn = v;
    if (k === 'handling' && (v === 'strict' || v === 'lenient')) out.preferHandling = v;
    if (k === 'respond-async') out.preferAsync = true;
  }
  return out;
}

/** Writes a FhirResponse: headers, then the body in the negotiated format (stored JSON is sent as is when possible). */
export function sendResponse(
  res: ServerResponse,
  result: FhirResponse,
  format: FhirFormat,
  pretty: boolean,
  shape?: ResourceShape,
): void {
  res.statusCode = result.status;
  const h = result.headers ?? {};
  if (h.etag) res.setHeader('ETag', h.etag);
  if (h.lastModified) res.setHeader('Last-Modified', h.lastModified);
  if (h.location) res.setHeader('Location', h.location);
  if (h.contentLocation) res.setHeader('Content-Location', h.contentLocation);
  if (h.progress) res.setHeader('X-Progress', h.progress);
  if (result.status === 304 || (result.resource === undefined && result.content === undefined)) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', MEDIA_TYPES[format]);
  // Searchset Bundles shape their entries themselves (result.shaped); the Bundle itself is never shaped.
  if (result.shaped) shape = undefined;
  if (format === 'json' && !pretty && !shape && result.content !== undefined) {
    res.end(result.content);
    return;
  }
  let resource = result.resource ?? (parseJsonKeepingDecimals(result.content as string, true) as Resource);
  if (shape && result.status < 300) resource = shapeResource(resource, shape);
  res.end(format === 'xml' ? toXml(resource, pretty) : JSON.stringify(resource, null, pretty ? 2 : undefined));
}
