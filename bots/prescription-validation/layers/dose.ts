import type { Dosage, Observation, Patient, Quantity } from '@medplum/fhirtypes';
import { idOf, type Finding, type Layer } from '../check.ts';
import { medicationCodes, unitStrengthMg } from '../medication.ts';
import { DOSE_LIMITS } from '../tables/limits.ts';

const LOINC = 'http://loinc.org';
const BODY_WEIGHT = '29463-7';
const DAYS: Record<string, number> = { s: 1 / 86400, min: 1 / 1440, h: 1 / 24, d: 1, wk: 7, mo: 30, a: 365 };
const MG: Record<string, number> = { mg: 1, g: 1000, ug: 0.001, mcg: 0.001, ng: 1e-6 };

/**
 * Dose: the daily dose (dose × frequency, or `maxDosePerPeriod`) against the table's adult maximum; for a patient under
 * 18 against the per-kg maximum at the latest body weight (LOINC 29463-7), capped at the adult dose. A child without
 * a recorded weight is reported, never guessed.
 */
export const doseLayer: Layer = {
  check: 'dose',
  async run({ request, ingredients, reader, now }) {
    const limited = ingredients.filter((i) => DOSE_LIMITS.has(i.rxcui));
    if (!limited.length) return { note: 'no maximum dose in the table for this drug' };
    const dosage = request.dosageInstruction?.[0];
    const codes = await medicationCodes(request, reader);
    const patientId = idOf(request.subject, 'Patient');
    const patient = patientId ? await reader.read<Patient>('Patient', patientId) : undefined;
    const child = patient?.birthDate ? ageYears(patient.birthDate, now) < 18 : false;
    let weightKg: number | undefined;
    if (child) weightKg = await latestWeightKg(reader, patientId!);
    const findings: Finding[] = [];
    for (const ingredient of limited) {
      const limit = DOSE_LIMITS.get(ingredient.rxcui)!;
      const daily = dosage && dailyMg(dosage, unitStrengthMg(codes, ingredient.rxcui));
      if (daily === undefined) continue; // no dose in mg: structure reports a missing dose; other units are not checked
      if (child && limit.pediatricMaxMgPerKgPerDay !== undefined && weightKg === undefined) {
        findings.push({
          check: 'dose',
          severity: 'moderate',
          actCode: 'DOSEHINDW',
          detail: `The patient is under 18 and has no recorded body weight (LOINC ${BODY_WEIGHT}): the ${ingredient.name} dose per kg could not be checked.`,
          mitigation: 'Record the body weight, then check the dose per kg.',
        });
        continue;
      }
      const perKg = child && weightKg !== undefined ? limit.pediatricMaxMgPerKgPerDay : undefined;
      const max = perKg !== undefined ? Math.min(perKg * weightKg!, limit.adultMaxMgPerDay) : limit.adultMaxMgPerDay;
      if (daily > max * 1.0001) {
        findings.push({
          check: 'dose',
          severity: 'high',
          actCode: perKg !== undefined ? 'DOSEHINDW' : 'DOSEHIGH',
          detail:
            `${ingredient.name} ${round(daily)} mg/day exceeds the maximum of ${round(max)} mg/day` +
            (perKg !== undefined ? ` (${perKg} mg/kg/day at ${weightKg} kg)` : ' (adult)') +
            ` — ${limit.source}.`,
          mitigation: `Reduce the dose to at most ${round(max)} mg/day.`,
        });
      }
    }
    return findings;
  },
};

/** The daily dose in mg, or undefined when the dosage does not say it in mass units (or in known tablets). */
export function dailyMg(dosage: Dosage, unitMg: number | undefined): number | undefined {
  const max = dosage.maxDosePerPeriod;
  if (max?.numerator && max.denominator?.value) {
    const mg = massMg(max.numerator, unitMg);
    const days = (max.denominator.value ?? 0) * (DAYS[max.denominator.code ?? max.denominator.unit ?? ''] ?? NaN);
    if (mg !== undefined && days > 0) return mg / days;
  }
  const dose = dosage.doseAndRate?.find((d) => d.doseQuantity)?.doseQuantity;
  const repeat = dosage.timing?.repeat;
  const perDose = dose && massMg(dose, unitMg);
  if (perDose === undefined || !repeat?.period || !repeat.periodUnit) return undefined;
  const frequency = repeat.frequencyMax ?? repeat.frequency ?? 1;
  const days = repeat.period * (DAYS[repeat.periodUnit] ?? NaN);
  return days > 0 ? (perDose * frequency) / days : undefined;
}

function massMg(q: Quantity, unitMg: number | undefined): number | undefined {
  if (typeof q.value !== 'number' || !(q.value >= 0)) return undefined;
  const unit = (q.code ?? q.unit ?? '').toLowerCase();
  if (MG[unit] !== undefined) return q.value * MG[unit];
  if (unitMg !== undefined && /^(\{?(tablet|tab|capsule|cap)s?\}?|1)$/.test(unit)) return q.value * unitMg;
  return undefined;
}

async function latestWeightKg(reader: Parameters<Layer['run']>[0]['reader'], patient: string) {
  const [obs] = await reader.search<Observation>('Observation', {
    subject: `Patient/${patient}`,
    code: `${LOINC}|${BODY_WEIGHT}`,
    _sort: '-date',
    _count: '1',
  });
  const q = obs?.valueQuantity;
  if (typeof q?.value !== 'number' || !(q.value > 0)) return undefined;
  const unit = q.code ?? q.unit;
  if (unit === 'kg') return q.value;
  if (unit === 'g') return q.value / 1000;
  if (unit === '[lb_av]' || unit === 'lb' || unit === 'lbs') return q.value * 0.45359237;
  return undefined;
}

function ageYears(birthDate: string, now: Date): number {
  const born = new Date(birthDate.length === 4 ? `${birthDate}-01-01` : birthDate);
  let age = now.getUTCFullYear() - born.getUTCFullYear();
  const m = now.getUTCMonth() - born.getUTCMonth();
  if (m < 0 || (m === 0 && now.getUTCDate() < born.getUTCDate())) age--;
  return age;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
