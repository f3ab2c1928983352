import type { Resource } from '@medplum/fhirtypes';
import type { Repository } from './repository.ts';

/** HTTP-like methods of the FHIR RESTful API. */
export type FhirMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A FHIR interaction request, the same whether it came over HTTP, inside a Bundle, from MLLP, MQTT or a bot. */
export interface FhirRequest {
  method: FhirMethod;
  /** Path relative to the FHIR base, without leading slash: `Patient/1/_history/2`. */
  path: string;
  /** Query parameters; repeated parameters keep every value in order. */
  query: Record<string, string[]>;
  /** Parsed body: a resource, a JSON Patch array, or a Parameters resource (FHIRPath Patch). */
  body?: unknown;
  /** Media type of the body, lower-cased without parameters (PATCH dispatches on it). */
  contentType?: string;
  headers: FhirRequestHeaders;
  /** Id a transaction Bundle reserved for this create (its entry's fullUrl is already rewritten to it); else a new UUID. */
  assignedId?: string;
}

/** The request headers with FHIR meaning. */
export interface FhirRequestHeaders {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifNoneExist?: string;
  ifModifiedSince?: string;
  /** `return=minimal|representation|OperationOutcome` */
  preferReturn?: 'minimal' | 'representation' | 'OperationOutcome';
  /** `handling=strict|lenient` */
  preferHandling?: 'strict' | 'lenient';
  /** `respond-async`: the client accepts 202 and a status URL to poll (server/jobs: the async request pattern). */
  preferAsync?: boolean;
  /** `Accept: text/event-stream`: the client takes a streamed answer (FhirResponse.events) from operations that offer one. */
  acceptEventStream?: boolean;
}

/** The outcome of an interaction. `content` carries an already-serialised resource straight from storage. */
export interface FhirResponse {
  status: number;
  resource?: Resource;
  /** Stored JSON text of `resource`, when the handler read it and did not change it (fast path for reads). */
  content?: string;
  /** True when `_summary`/`_elements` were already applied inside (a searchset): the door must not apply them again. */
  shaped?: boolean;
  headers?: {
    etag?: string;
    lastModified?: string;
    location?: string;
    contentLocation?: string;
    /** `X-Progress` of an async job's status while it runs. */
    progress?: string;
  };
  /**
   * The versions this interaction wrote, in order (a create, update or patch writes one; a transaction or batch
   * Bundle lists its entries'), so that doors need not parse `Location` (e.g. to write a Provenance for each).
   */
  written?: WrittenVersion[];
  /**
   * A streamed answer (only to a request with `acceptEventStream`): the door sends each event as it comes (HTTP:
   * server-sent events) and ends the response after the last; the events say themselves how the work ended.
   */
  events?: AsyncIterable<ServerSentEvent>;
}

/** One event of a streamed answer: its name and its data (text; JSON for structured data). */
export interface ServerSentEvent {
  event: string;
  data: string;
}

/** A version a write produced. */
export interface WrittenVersion {
  resourceType: string;
  id: string;
  versionId: string;
  interaction: 'create' | 'update' | 'patch';
}

/** Search criteria as in a query string: parameter name → values (repeated values AND, a comma inside one ORs). */
export type SearchCriteria = Record<string, string[]>;

/**
 * Who is asking. Every door builds one (server/auth from a token, bots from their registration, MLLP/MQTT from the
 * listener's identity). The store and the search engine turn `visibleWhere` into SQL predicates, so nothing outside it
 * is ever read, counted, included or chained through.
 */
export interface AccessContext {
  kind: 'system' | 'user' | 'patient' | 'device' | 'bot';
  /** Reference of the acting identity, e.g. `Practitioner/123`. */
  actor?: string;
  /**
   * Which resources of a type this identity may see, as search criteria ANDed into every query that touches the type:
   * `undefined` means all of them; otherwise a resource is visible when it matches at least one alternative
   * (an empty array: none). Example for a patient/ scope: `Observation` → `[{ subject: ['Patient/1'] }, { performer: ['Patient/1'] }]`.
   */
  visibleWhere?(resourceType: string): SearchCriteria[] | undefined;
  /** OAuth client the request's token was issued to (server/auth). */
  clientId?: string;
  /** Launch context patient id of a SMART token. */
  patient?: string;
  /**
   * Whether this identity may perform a SMART v2 permission (`c`reate, `r`ead, `u`pdate, `d`elete, `s`earch) on at
   * least some resources of a type. Absent: everything (fully trusted in-process doors).
   */
  permits?(permission: 'c' | 'r' | 'u' | 'd' | 's', resourceType: string): boolean;
  /** Like `visibleWhere`, for one permission: which resources a create/update/delete may touch or produce. */
  whereFor?(permission: 'c' | 'r' | 'u' | 'd' | 's', resourceType: string): SearchCriteria[] | undefined;
  /**
   * The bearer token this access was resolved from and when it expires (epoch seconds), so that what outlives the
   * request (a websocket binding) can be tied to it and end with it. Absent for in-process doors.
   */
  credential?: { token: string; expiresAt: number };
  /**
   * Whether a create/update/delete may produce or replace this version. Stricter than matching `whereFor`: a
   * compartment-confined identity may not write into another patient's compartment. Absent: `whereFor` decides.
   */
  mayWrite?(permission: 'c' | 'u' | 'd', resource: Resource): boolean;
}

/** Everything a handler may use. */
export interface FhirContext {
  repo: Repository;
  /** Absolute FHIR base URL without trailing slash, for links and Location headers. */
  baseUrl: string;
  requestId: string;
  access: AccessContext;
  /** Aborted when the caller is gone (HTTP: the connection closed before the response was sent); long work stops. */
  signal?: AbortSignal;
}

/** A handler of one interaction; route parameters come from the path pattern. */
export type FhirHandler = (ctx: FhirContext, req: FhirRequest, params: Record<string, string>) => Promise<FhirResponse>;
