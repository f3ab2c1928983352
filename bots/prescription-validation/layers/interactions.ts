import type { AllergyIntolerance, MedicationRequest, MedicationStatement, Reference } from '@medplum/fhirtypes';
import { idOf, refTo, type CheckInput, type ClinicalReader, type Finding, type Layer } from '../check.ts';
import { ingredientsOf } from '../medication.ts';
import { ATC, inClass, INGREDIENTS, RXNORM, type Ingredient } from '../tables/drugs.ts';
import { INTERACTIONS, type DrugSet } from '../tables/interactions.ts';

/** How many of the patient's current medications are read (a bound on the work of one check). */
const MAX_CURRENT = 200;

/** A medication the patient currently takes: what records it, and its ingredients. */
interface Current {
  ref: Reference;
  ingredients: Ingredient[];
}

/** The patient's active MedicationRequests (other than this one) and active or intended MedicationStatements. */
async function currentMedications({ request, reader }: CheckInput): Promise<Current[]> {
  const patient = request.subject?.reference;
  if (!idOf(request.subject, 'Patient')) return [];
  const count = String(MAX_CURRENT);
  const [requests, statements] = await Promise.all([
    reader.search<MedicationRequest>('MedicationRequest', { subject: patient!, status: 'active', _count: count }),
    reader.search<MedicationStatement>('MedicationStatement', {
      subject: patient!,
      status: 'active,intended',
      _count: count,
    }),
  ]);
  const others = [...requests.filter((r) => !request.id || r.id !== request.id), ...statements];
  return Promise.all(others.map(async (r) => ({ ref: refTo(r), ingredients: await ingredientsOf(r, reader) })));
}

const matches = (set: DrugSet, ingredient: Ingredient) => set.some((code) => inClass(ingredient, code));

/** Interactions: each pair of the ONC high-priority table between this request and a current medication. */
export const interactionLayer: Layer = {
  check: 'interaction',
  async run(input) {
    if (!input.ingredients.length) return { note: 'no ingredient the table knows' };
    const current = await currentMedications(input);
    const findings: Finding[] = [];
    for (const other of current) {
      for (const rule of INTERACTIONS) {
        for (const mine of input.ingredients) {
          const theirs = other.ingredients.find(
            (i) => (matches(rule.a, mine) && matches(rule.b, i)) || (matches(rule.b, mine) && matches(rule.a, i)),
          );
          if (!theirs) continue;
          findings.push({
            check: 'interaction',
            severity: 'high',
            actCode: 'DRG',
            detail: `${mine.name} with ${theirs.name} (${other.ref.reference}): ${rule.detail}`,
            mitigation: rule.mitigation,
            implicated: [other.ref],
          });
        }
      }
    }
    return findings;
  },
};

const REFUTED = new Set(['refuted', 'entered-in-error']);

/**
 * Allergies: the patient's active AllergyIntolerances (confirmed, unconfirmed or unstated; not refuted) coded by an
 * RxNorm ingredient or an ATC class. The same ingredient, or an allergen's class containing the drug, is high for a
 * confirmed allergy and moderate for an unconfirmed one; a penicillin allergy against a cephalosporin is moderate
 * (cross-reactivity about 1–2 %: Joint Task Force on Practice Parameters, Drug allergy 2022 update).
 */
export const allergyLayer: Layer = {
  check: 'allergy',
  async run({ request, reader, ingredients }) {
    if (!ingredients.length) return { note: 'no ingredient the table knows' };
    const patient = idOf(request.subject, 'Patient');
    if (!patient) return { note: 'no Patient subject' };
    const allergies = (await activeAllergies(reader, patient)).filter(
      (a) => !REFUTED.has(a.verificationStatus?.coding?.[0]?.code ?? ''),
    );
    const findings: Finding[] = [];
    for (const allergy of allergies) {
      const confirmed = allergy.verificationStatus?.coding?.[0]?.code === 'confirmed';
      for (const drug of ingredients) {
        const hit = allergyMatch(allergy, drug);
        if (!hit) continue;
        findings.push({
          check: 'allergy',
          severity: hit === 'cross' || !confirmed ? 'moderate' : 'high',
          actCode: 'ALGY',
          detail:
            hit === 'cross'
              ? `${drug.name} is a cephalosporin; the patient has a ${confirmed ? 'confirmed' : 'recorded'} penicillin allergy (AllergyIntolerance/${allergy.id}).`
              : `${drug.name}: the patient has a ${confirmed ? 'confirmed' : 'recorded, unconfirmed'} allergy to ${allergy.code?.text ?? allergy.code?.coding?.[0]?.display ?? 'it or its class'} (AllergyIntolerance/${allergy.id}).`,
          mitigation:
            hit === 'cross'
              ? 'Prefer a cephalosporin with a dissimilar side chain, or test-dose under observation.'
              : 'Choose a drug of another class, or document the indication and desensitisation plan.',
          implicated: [refTo(allergy)],
        });
      }
    }
    return findings;
  },
};

async function activeAllergies(reader: ClinicalReader, patient: string): Promise<AllergyIntolerance[]> {
  return reader.search<AllergyIntolerance>('AllergyIntolerance', {
    patient: `Patient/${patient}`,
    'clinical-status': 'active',
    _count: String(MAX_CURRENT),
  });
}

/** `same` when the allergen is the drug or a class containing it, `cross` for penicillin → cephalosporin. */
function allergyMatch(allergy: AllergyIntolerance, drug: Ingredient): 'same' | 'cross' | undefined {
  const classes = (allergy.code?.coding ?? []).flatMap((c) => {
    if (c.system === ATC && c.code) return [c.code];
    const ingredient = c.system === RXNORM && c.code ? INGREDIENTS.get(c.code) : undefined;
    // an allergy to one penicillin is an allergy to the penicillins (AAAAI/ACAAI practice parameter)
    return ingredient ? [ingredient.rxcui, ...(ingredient.atc.includes('J01C') ? ['J01C'] : [])] : [];
  });
  if (classes.some((code) => inClass(drug, code))) return 'same';
  if (classes.includes('J01C') && drug.atc.includes('J01D')) return 'cross';
  return undefined;
}
