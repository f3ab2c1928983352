import type { CodeableConcept, Medication, MedicationRequest, MedicationStatement } from '@medplum/fhirtypes';
import { idOf, type ClinicalReader } from './check.ts';
import { CLINICAL_DRUGS, INGREDIENTS, RXNORM, type Ingredient } from './tables/drugs.ts';

/** The RxNorm codes of a request's or statement's medication: its concept, or its Medication's code and ingredients. */
export async function medicationCodes(
  resource: MedicationRequest | MedicationStatement,
  reader: ClinicalReader,
): Promise<string[]> {
  if (resource.medicationCodeableConcept) return rxnormCodes(resource.medicationCodeableConcept);
  const ref = resource.medicationReference?.reference;
  if (!ref) return [];
  const medication = ref.startsWith('#')
    ? (resource.contained?.find((c) => c.resourceType === 'Medication' && `#${c.id}` === ref) as Medication | undefined)
    : await readMedication(reader, idOf(resource.medicationReference, 'Medication'));
  if (!medication) return [];
  return [
    ...rxnormCodes(medication.code),
    ...(medication.ingredient ?? []).flatMap((i) => rxnormCodes(i.itemCodeableConcept)),
  ];
}

async function readMedication(reader: ClinicalReader, id: string | undefined): Promise<Medication | undefined> {
  return id ? reader.read<Medication>('Medication', id) : undefined;
}

function rxnormCodes(concept: CodeableConcept | undefined): string[] {
  return (concept?.coding ?? []).filter((c) => c.system === RXNORM && typeof c.code === 'string').map((c) => c.code!);
}

/** RxNorm codes mapped to the table's ingredients (an ingredient itself, or a clinical drug's), and those it lacks. */
export function resolveIngredients(codes: string[]): { ingredients: Ingredient[]; unknown: string[] } {
  const found = new Map<string, Ingredient>();
  const unknown: string[] = [];
  for (const code of codes) {
    const ingredient = INGREDIENTS.get(code) ?? INGREDIENTS.get(CLINICAL_DRUGS.get(code)?.ingredient ?? '');
    if (ingredient) found.set(ingredient.rxcui, ingredient);
    else unknown.push(code);
  }
  return { ingredients: [...found.values()], unknown: found.size ? [] : unknown };
}

/** The ingredients of a resource, by the table. */
export async function ingredientsOf(
  resource: MedicationRequest | MedicationStatement,
  reader: ClinicalReader,
): Promise<Ingredient[]> {
  return resolveIngredients(await medicationCodes(resource, reader)).ingredients;
}

/** Strength per dose unit (tablet, capsule) of a clinical-drug code in the request, in mg. */
export function unitStrengthMg(codes: string[], ingredient: string): number | undefined {
  for (const code of codes) {
    const drug = CLINICAL_DRUGS.get(code);
    if (drug?.ingredient === ingredient) return drug.strengthMg;
  }
  return undefined;
}
