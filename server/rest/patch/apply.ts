import type { Parameters, Resource } from '@medplum/fhirtypes';
import { badRequest, unprocessable, unsupportedMediaType } from '../../fhir/outcomes.ts';
import type { FhirRequest } from '../../core/types.ts';
import { applyFhirPathPatch } from './fhirpath-patch.ts';
import { applyJsonPatch } from './json-patch.ts';

const JSON_PATCH = 'application/json-patch+json';
const FHIR_TYPES = new Set([
  'application/fhir+json',
  'application/json',
  'application/json+fhir',
  'application/fhir+xml',
  'application/xml',
  'application/xml+fhir',
  'text/xml',
]);

/**
 * Applies the patch in a PATCH request to a copy of `current`: JSON Patch for `application/json-patch+json`,
 * FHIRPath Patch for a Parameters resource in FHIR JSON/XML. (In-process doors may omit the content type: an array
 * is then a JSON Patch.) The result must keep the resource's type and id (422 otherwise); validation follows in
 * the store like for any write.
 */
export function applyPatchRequest<T extends Resource>(current: T, req: FhirRequest): T {
  const contentType = req.contentType ?? (Array.isArray(req.body) ? JSON_PATCH : 'application/fhir+json');
  let patched: T;
  if (contentType === JSON_PATCH) {
    patched = applyJsonPatch(current, req.body);
  } else if (FHIR_TYPES.has(contentType)) {
    const body = req.body as Parameters | undefined;
    if (body?.resourceType !== 'Parameters') {
      throw badRequest('A FHIRPath Patch must be a Parameters resource', 'resourceType');
    }
    patched = applyFhirPathPatch(current, body);
  } else {
    throw unsupportedMediaType(
      `PATCH accepts ${JSON_PATCH} or a FHIRPath Patch Parameters resource, not "${contentType}"`,
    );
  }
  if (!patched || typeof patched !== 'object' || Array.isArray(patched)) {
    throw unprocessable('The patch does not produce a resource');
  }
  if (patched.resourceType !== current.resourceType) {
    throw unprocessable('A patch must not change the resourceType', 'resourceType');
  }
  if (patched.id !== current.id) throw unprocessable('A patch must not change the id', 'id');
  return patched;
}
