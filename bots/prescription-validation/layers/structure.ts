import type { Dosage } from '@medplum/fhirtypes';
import { idOf, PRESCRIPTION_PROFILE, type Finding, type Layer } from '../check.ts';
import { RXNORM } from '../tables/drugs.ts';

/**
 * Structure: what a pharmacist needs to dispense (NCPDP SCRIPT NewRx required fields; the FHIR R4 MedicationRequest
 * elements that carry them): an RxNorm-coded medication, a dosage with a dose and a frequency, a quantity or supply
 * duration, a requester and a subject, and a validity period that ends after it starts; and the prescription profile
 * (profiles/tributary-prescription.json: date written, prescriber, directions and supply required, 21 CFR 1306.05(a))
 * by the server's validator.
 */
export const structureLayer: Layer = {
  check: 'structure',
  async run({ request, ingredients, unknownCodes, reader }) {
    const problems: Finding[] = [];
    const add = (detail: string, mitigation: string, severity: Finding['severity'] = 'high') =>
      problems.push({ check: 'structure', severity, detail, mitigation });
    // the profile first: an element it reports missing is not reported again by the checks below
    const profileErrors = (await reader.profileErrors(request, PRESCRIPTION_PROFILE)) ?? [];
    for (const e of profileErrors)
      add(
        `Not a valid prescription (${PRESCRIPTION_PROFILE}): ${e.message}`,
        'Complete the prescription as the profile requires.',
      );
    const reported = (element: string) => profileErrors.some((e) => e.path.startsWith(`MedicationRequest.${element}`));
    const coded =
      request.medicationCodeableConcept?.coding?.some((c) => c.system === RXNORM && c.code) ||
      request.medicationReference?.reference;
    if (!coded) add('The medication is not coded with RxNorm.', `Code the medication with ${RXNORM}.`);
    else if (ingredients.length === 0)
      add(
        `The medication (RxNorm ${unknownCodes.join(', ') || 'reference'}) is not in the shipped ingredient table: interactions, allergies and dose were not checked.`,
        'Check interactions, allergies and dose by hand, or code the medication by a known ingredient.',
        'low',
      );
    const dosage: Dosage | undefined = request.dosageInstruction?.[0];
    const dose = dosage?.doseAndRate?.find((d) => d.doseQuantity || d.doseRange)?.doseQuantity;
    if (!reported('dosageInstruction') && (!dose || typeof dose.value !== 'number' || !(dose.value > 0)))
      add('The dosage has no dose (dosageInstruction.doseAndRate.doseQuantity).', 'State the dose per administration.');
    const repeat = dosage?.timing?.repeat;
    if (
      !reported('dosageInstruction') &&
      !(repeat?.frequency && repeat.period && repeat.periodUnit) &&
      !dosage?.timing?.code &&
      !dosage?.asNeededBoolean
    )
      add('The dosage has no frequency (dosageInstruction.timing).', 'State how often the dose is taken.');
    const dispense = request.dispenseRequest;
    if (!reported('dispenseRequest') && !dispense?.quantity?.value && !dispense?.expectedSupplyDuration?.value)
      add(
        'Neither a quantity nor a supply duration is given (dispenseRequest.quantity / expectedSupplyDuration).',
        'State the quantity to dispense or the days of supply.',
      );
    if (!reported('requester') && !request.requester?.reference)
      add('The prescription has no requester.', 'Name the prescriber.');
    if (!idOf(request.subject, 'Patient'))
      add(
        'The prescription’s subject is not a Patient reference (Patient/[id]).',
        'Name the patient the prescription is for.',
      );
    const { start, end } = dispense?.validityPeriod ?? {};
    if (start && end && Date.parse(end) < Date.parse(start))
      add('The validity period ends before it starts.', 'Correct dispenseRequest.validityPeriod.');
    return problems;
  },
};
