import type {
  AllergyIntolerance,
  Bundle,
  Communication,
  Condition,
  Encounter,
  MedicationRequest,
  Observation,
  Patient,
  Procedure,
  Resource,
} from '@medplum/fhirtypes';
import { fhirRequest } from '../../server/core/request.ts';
import { responseResource } from '../../server/core/respond.ts';
import type { FhirRouter } from '../../server/core/router.ts';
import type { FhirContext } from '../../server/core/types.ts';
import { toOutcomeError, tooCostly } from '../../server/fhir/outcomes.ts';
import type { NoteInputs } from './facts.ts';

/** Most resources of one kind a note is drafted from; an encounter with more is refused (400 too-costly). */
export const MAX_PER_KIND = 200;

/**
 * Gathers what a note is drafted from, through the router with the caller's own access, so the guard and the search
 * engine confine it exactly as the caller's own requests: the encounter (404 when the caller may not read it, as if
 * absent), its patient, and the Observations, Conditions, Procedures, MedicationRequests and Communications of the
 * encounter, with the patient's AllergyIntolerances. A kind the caller may not search (403) is left out and named
 * in `withheld`; any other failure is the caller's answer.
 */
export async function gatherInputs(router: FhirRouter, ctx: FhirContext, encounterId: string): Promise<NoteInputs> {
  const get = async (url: string) => responseResource(await router.handle(ctx, fhirRequest({ method: 'GET', url })));
  const encounter = (await get(`Encounter/${encounterId}`)) as Encounter;
  const withheld: string[] = [];
  const search = async <T extends Resource>(type: T['resourceType'], param: string, value: string): Promise<T[]> => {
    try {
      const query = new URLSearchParams({ [param]: value, _count: String(MAX_PER_KIND + 1) });
      const bundle = (await get(`${type}?${query}`)) as Bundle;
      const found = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is T => r?.resourceType === type);
      if (found.length > MAX_PER_KIND || bundle.link?.some((l) => l.relation === 'next'))
        throw tooCostly(`Encounter/${encounterId} has more than ${MAX_PER_KIND} ${type} resources to draft from`);
      return found;
    } catch (err) {
      if (toOutcomeError(err).status !== 403) throw err;
      withheld.push(type);
      return [];
    }
  };
  const encounterRef = `Encounter/${encounterId}`;
  const subject = encounter.subject?.reference;
  const patientId = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(subject ?? '')?.[1];
  // one after the other: a bot's call runs in one database transaction, whose connection takes one query at a time
  const observations = await search<Observation>('Observation', 'encounter', encounterRef);
  const conditions = await search<Condition>('Condition', 'encounter', encounterRef);
  const procedures = await search<Procedure>('Procedure', 'encounter', encounterRef);
  const medications = await search<MedicationRequest>('MedicationRequest', 'encounter', encounterRef);
  const communications = await search<Communication>('Communication', 'encounter', encounterRef);
  const allergies = patientId
    ? await search<AllergyIntolerance>('AllergyIntolerance', 'patient', `Patient/${patientId}`)
    : [];
  let patient: Patient | undefined;
  if (patientId) {
    try {
      patient = (await get(`Patient/${patientId}`)) as Patient;
    } catch (err) {
      const status = toOutcomeError(err).status;
      if (status !== 403 && status !== 404 && status !== 410) throw err;
      withheld.push('Patient');
    }
  }
  return { encounter, patient, observations, conditions, procedures, medications, allergies, communications, withheld };
}
