import { createHash } from 'node:crypto';
import type { MedicationRequest } from '@medplum/fhirtypes';
import { idOf, refTo, type ClinicalReader, type Layer } from '../check.ts';
import { medicationCodes, resolveIngredients } from '../medication.ts';

/** Requests for the same content within this many days of each other are duplicates. */
export const DUPLICATE_WINDOW_DAYS = 30;
/** Refills of the same prescription are a series, duplicates only within this many days of each other. */
export const REFILL_WINDOW_DAYS = 7;
const DAY_MS = 86_400_000;

/**
 * The content hash of a prescription: SHA-256 over patient, ingredients (or the medication codes the table lacks),
 * strength (the codes), dose, frequency and prescriber. Two requests with the same hash authored within the window
 * are duplicates (ISMP: duplicate therapy and duplicate orders are a leading cause of dispensing errors).
 */
export async function contentHash(request: MedicationRequest, reader: ClinicalReader): Promise<string> {
  const codes = (await medicationCodes(request, reader)).sort();
  const { ingredients } = resolveIngredients(codes);
  const dosage = request.dosageInstruction?.[0];
  const dose = dosage?.doseAndRate?.find((d) => d.doseQuantity)?.doseQuantity;
  const r = dosage?.timing?.repeat;
  const parts = [
    request.subject?.reference ?? '',
    ingredients.map((i) => i.rxcui).sort(),
    codes,
    [dose?.value ?? null, dose?.code ?? dose?.unit ?? null],
    [r?.frequency ?? null, r?.period ?? null, r?.periodUnit ?? null, dosage?.timing?.code?.coding?.[0]?.code ?? null],
    request.requester?.reference ?? '',
  ];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/**
 * Duplicate: another draft, active or on-hold request of the patient with the same content hash in the window; a
 * request and its refill are not duplicates, and two refills of the same prescription only within 7 days (monthly
 * refills of a 30-day supply are a series, not duplicates).
 */
export const duplicateLayer: Layer = {
  check: 'duplicate',
  async run({ request, reader, now }) {
    const patient = idOf(request.subject, 'Patient');
    if (!patient) return { note: 'no Patient subject' };
    const at = Date.parse(request.authoredOn ?? '') || now.getTime();
    const candidates = await reader.search<MedicationRequest>('MedicationRequest', {
      subject: `Patient/${patient}`,
      status: 'draft,active,on-hold',
      _count: '200',
    });
    const mine = await contentHash(request, reader);
    const refill = (a: MedicationRequest, b: MedicationRequest) =>
      a.priorPrescription?.reference === `MedicationRequest/${b.id}`;
    const prior = request.priorPrescription?.reference;
    for (const other of candidates) {
      if (request.id && other.id === request.id) continue;
      if (refill(request, other) || refill(other, request)) continue;
      const series = prior !== undefined && other.priorPrescription?.reference === prior;
      const when = Date.parse(other.authoredOn ?? other.meta?.lastUpdated ?? '');
      if (!(Math.abs(when - at) <= (series ? REFILL_WINDOW_DAYS : DUPLICATE_WINDOW_DAYS) * DAY_MS)) continue;
      if ((await contentHash(other, reader)) !== mine) continue;
      return [
        {
          check: 'duplicate',
          severity: 'high',
          actCode: 'DUPTHPY',
          detail: `The same prescription (patient, drug, strength, dose, frequency, prescriber) was issued as MedicationRequest/${other.id} within ${DUPLICATE_WINDOW_DAYS} days (content hash ${mine.slice(0, 16)}…).`,
          mitigation: `Cancel one of the two, or make this a refill of MedicationRequest/${other.id} (priorPrescription).`,
          implicated: [refTo(other)],
        },
      ];
    }
    return [];
  },
};
