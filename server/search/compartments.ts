import type { CompartmentDefinition } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';

/** The compartment types of FHIR R4 and the file of each CompartmentDefinition (server/search/compartments/). */
const FILES: Record<string, string> = {
  Patient: 'compartmentdefinition-patient.json',
  Encounter: 'compartmentdefinition-encounter.json',
  RelatedPerson: 'compartmentdefinition-relatedperson.json',
  Practitioner: 'compartmentdefinition-practitioner.json',
  Device: 'compartmentdefinition-device.json',
};

let loaded: Map<string, Map<string, string[]>> | undefined;

function load(): Map<string, Map<string, string[]>> {
  if (loaded) return loaded;
  loaded = new Map();
  for (const [compartment, file] of Object.entries(FILES)) {
    const def = JSON.parse(
      readFileSync(new URL(`./compartments/${file}`, import.meta.url), 'utf8'),
    ) as CompartmentDefinition;
    const members = new Map<string, string[]>();
    for (const r of def.resource ?? []) {
      const params = (r.param ?? []).filter((p) => p !== '{def}');
      if (params.length > 0 || r.code === compartment) members.set(r.code as string, params);
    }
    loaded.set(compartment, members);
  }
  return loaded;
}

/** True if `type` names a compartment (Patient, Encounter, RelatedPerson, Practitioner, Device). */
export function isCompartmentType(type: string): boolean {
  return type in FILES;
}

/**
 * The reference parameters that put a resource of `resourceType` in a compartment, or undefined when the type is not
 * in it. The compartment's own type is always in it (the focal resource itself), with its parameters if any.
 */
export function compartmentParams(compartment: string, resourceType: string): string[] | undefined {
  return load().get(compartment)?.get(resourceType);
}

/** Every resource type in a compartment, with its parameters. */
export function compartmentMembers(compartment: string): Map<string, string[]> {
  return load().get(compartment) ?? new Map();
}
