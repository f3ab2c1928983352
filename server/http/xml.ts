import type { Resource } from '@medplum/fhirtypes';
import { parseFhirXml } from './xml-parse.ts';
import { writeFhirXml } from './xml-write.ts';

/** Parses FHIR XML into a resource (400 with the element path when it is not valid FHIR XML). */
export function parseXmlResource(text: string): Resource {
  return parseFhirXml(text);
}

/** Serialises a resource as FHIR XML; `pretty` indents it. */
export function toXml(resource: Resource, pretty: boolean): string {
  return writeFhirXml(resource, pretty);
}
