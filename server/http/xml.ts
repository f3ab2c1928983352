import type { Resource } from '@medplum/fhirtypes';
import { unsupportedMediaType } from '../fhir/outcomes.ts';

// Placeholder until the XML converter lands (in progress in this session).
/** Parses FHIR XML into a resource. */
export function parseXmlResource(_text: string): Resource {
  throw unsupportedMediaType('XML is not supported yet');
}

/** Serialises a resource as FHIR XML. */
export function toXml(_resource: Resource, _pretty: boolean): string {
  throw unsupportedMediaType('XML is not supported yet');
}
