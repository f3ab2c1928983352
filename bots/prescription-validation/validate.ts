import type { MedicationRequest } from '@medplum/fhirtypes';
import type { ClinicalReader, Finding, Layer, LayerResult } from './check.ts';
import { structureLayer } from './layers/structure.ts';
import { duplicateLayer } from './layers/duplicate.ts';
import { refillLayer } from './layers/refills.ts';
import { allergyLayer, interactionLayer } from './layers/interactions.ts';
import { doseLayer } from './layers/dose.ts';
import { patientLayer, prescriberLayer } from './layers/parties.ts';
import { medicationCodes, resolveIngredients } from './medication.ts';

/** The layers in the order they run (the OCR image layer is not built: see the README). */
export const LAYERS: Layer[] = [
  structureLayer,
  duplicateLayer,
  refillLayer,
  interactionLayer,
  allergyLayer,
  doseLayer,
  prescriberLayer,
  patientLayer,
];

/** The outcome of validating one prescription: every layer's pass/fail with reasons, and the findings. */
export interface Validation {
  layers: LayerResult[];
  findings: Finding[];
  /** Whether a finding is high: the prescription must not be dispensed as it is. */
  blocked: boolean;
}

/** Runs every layer on a MedicationRequest, reading the record through `reader`; findings in layer order. */
export async function validatePrescription(
  request: MedicationRequest,
  reader: ClinicalReader,
  now = new Date(),
): Promise<Validation> {
  const { ingredients, unknown } = resolveIngredients(await medicationCodes(request, reader));
  const input = { request, ingredients, unknownCodes: unknown, reader, now };
  const layers: LayerResult[] = [];
  const findings: Finding[] = [];
  // the layers are independent: their reads run side by side
  const outs = await Promise.all(LAYERS.map((layer) => layer.run(input)));
  for (const [i, layer] of LAYERS.entries()) {
    const out = outs[i];
    if (Array.isArray(out)) {
      findings.push(...out);
      layers.push({ check: layer.check, passed: out.length === 0, reasons: out.map((f) => f.detail) });
    } else {
      layers.push({ check: layer.check, passed: true, reasons: [out.note] });
    }
  }
  return { layers, findings, blocked: findings.some((f) => f.severity === 'high') };
}
