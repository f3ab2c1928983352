import type { Resource } from '@medplum/fhirtypes';
import { badRequest, informational } from '../fhir/outcomes.ts';
import type { FhirContext, FhirRequest, FhirResponse, WrittenVersion } from './types.ts';

/** The weak ETag of a version: `W/"3"`. */
export function etag(versionId: string | number): string {
  return `W/"${versionId}"`;
}

/** Parses an `If-Match` / ETag value (`W/"3"`, `"3"` or `3`) into a version number; 400 if it is not one. */
export function parseVersionTag(header: string): number {
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(header.trim());
  if (!m) throw badRequest(`Invalid version tag "${header}"`);
  return Number(m[1]);
}

/** `If-None-Match` of a write: `*` (any version), or the version ids of a list of ETags (`W/"1", W/"2"`). */
export function parseIfNoneMatch(header: string): '*' | number[] {
  if (header.trim() === '*') return '*';
  return header.split(',').map(parseVersionTag);
}

/** The HTTP date of an instant, for Last-Modified. */
export function httpDate(instant: string): string {
  return new Date(instant).toUTCString();
}

/** Identity of a stored version, enough to build headers without parsing the resource. */
export interface VersionKey {
  resourceType: string;
  id: string;
  versionId: string | number;
  lastUpdated: string;
}

/** The version key of a resource the store returned (meta is always set by the store). */
export function keyOf(resource: Resource): VersionKey {
  return {
    resourceType: resource.resourceType,
    id: resource.id as string,
    versionId: resource.meta?.versionId as string,
    lastUpdated: resource.meta?.lastUpdated as string,
  };
}

/**
 * A response carrying a stored version, with ETag, Last-Modified and (for writes) Location headers. Give either the
 * resource or its stored JSON text (`content`, sent as is on the read fast path).
 */
export function versionResponse(
  ctx: FhirContext,
  status: number,
  key: VersionKey,
  body: { resource?: Resource; content?: string },
  options: { location?: boolean; written?: WrittenVersion['interaction'] } = {},
): FhirResponse {
  const versionUrl = options.location
    ? `${ctx.baseUrl}/${key.resourceType}/${key.id}/_history/${key.versionId}`
    : undefined;
  return {
    status,
    resource: body.resource,
    content: body.content,
    headers: {
      etag: etag(key.versionId),
      lastModified: httpDate(key.lastUpdated),
      location: versionUrl,
      contentLocation: versionUrl,
    },
    ...(options.written
      ? {
          written: [
            {
              resourceType: key.resourceType,
              id: key.id,
              versionId: String(key.versionId),
              interaction: options.written,
            },
          ],
        }
      : {}),
  };
}

/** The resource of a response, parsing stored JSON text when the handler passed only that. */
export function responseResource(res: FhirResponse): Resource | undefined {
  if (res.resource) return res.resource;
  if (res.content !== undefined) return JSON.parse(res.content) as Resource;
  return undefined;
}

/** Applies `Prefer: return=…` to the response of a write. */
export function applyPrefer(req: FhirRequest, res: FhirResponse, message: string): FhirResponse {
  switch (req.headers.preferReturn) {
    case 'minimal':
      return { ...res, resource: undefined, content: undefined };
    case 'OperationOutcome':
      return { ...res, resource: informational(message), content: undefined };
    default:
      return res;
  }
}

/** Checks a request body is a resource of the type in the URL (400 otherwise) and returns it. */
export function requireResource(req: FhirRequest, type: string): Resource {
  const body = req.body as Resource | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a resource');
  if (typeof body.resourceType !== 'string') throw badRequest('The resource has no resourceType', 'resourceType');
  if (body.resourceType !== type) {
    throw badRequest(
      `The resource type "${body.resourceType}" does not match the URL's type "${type}"`,
      'resourceType',
    );
  }
  return body;
}
