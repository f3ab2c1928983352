import { badRequest, methodNotAllowed } from '../fhir/outcomes.ts';
import { parseQueryString } from './query.ts';
import type { FhirMethod, FhirRequest, FhirRequestHeaders } from './types.ts';

const METHODS: ReadonlySet<string> = new Set<FhirMethod>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** What a door knows of a request before it is a FhirRequest (HTTP, a Bundle entry, a bot's call, MLLP, MQTT…). */
export interface RequestParts {
  /** The method in any case; `HEAD` is a GET without a body. */
  method: string;
  /**
   * The request URL relative to the FHIR base (`Patient/1`, `/Observation?code=x`), or absolute on `baseUrl`. Its
   * path is percent-decoded; its query string is parsed into `query`.
   */
  url: string;
  /** This server's FHIR base, to accept absolute URLs on it (others are refused). */
  baseUrl?: string;
  /** Query parameters the door parsed already (e.g. a `_search` form body): the URL's are added to them. */
  query?: Record<string, string[]>;
  headers?: FhirRequestHeaders;
  body?: unknown;
  /** Media type of the body, lower-cased without parameters. */
  contentType?: string;
  /** Names the request in error messages (`Bundle.entry[3].request.url`): default "The request URL". */
  where?: string;
}

/**
 * Builds the FhirRequest of any door, so every door agrees on what a URL means: 405 for a method FHIR does not have,
 * 400 for an absolute URL on another server or a malformed percent-escape; query objects without a prototype
 * (server/core/query.ts), the path without leading or trailing slashes.
 */
export function fhirRequest(parts: RequestParts): FhirRequest {
  const upper = parts.method.toUpperCase();
  const method = (upper === 'HEAD' ? 'GET' : upper) as FhirMethod;
  if (!METHODS.has(method)) throw methodNotAllowed(`Method ${parts.method} is not supported`);
  const where = parts.where ?? 'The request URL';
  let rest = parts.url;
  if (/^https?:\/\//i.test(rest)) {
    if (!parts.baseUrl || !rest.startsWith(parts.baseUrl + '/')) {
      throw badRequest(`${where} is not on this server: ${rest.slice(0, 200)}`, parts.where);
    }
    rest = rest.slice(parts.baseUrl.length);
  }
  const q = rest.indexOf('?');
  const rawPath = (q < 0 ? rest : rest.slice(0, q)).replace(/^\/+/, '');
  const query = parseQueryString(q < 0 ? '' : rest.slice(q + 1), parts.query ?? Object.create(null));
  let path: string;
  try {
    path = decodeURIComponent(rawPath).replace(/\/+$/, '');
  } catch {
    throw badRequest(`${where} has a malformed percent-escape: ${rawPath.slice(0, 200)}`, parts.where);
  }
  const request: FhirRequest = { method, path, query, headers: parts.headers ?? {} };
  if (parts.body !== undefined) request.body = parts.body;
  if (parts.contentType !== undefined) request.contentType = parts.contentType;
  return request;
}
