import type { MedicationDispense, MedicationRequest } from '@medplum/fhirtypes';

const DAY_MS = 86_400_000;

/** Where a prescription's supply stands: fills used and left, and when the last fill runs out. */
export interface SupplyState {
  fillsUsed: number;
  /** Fills still allowed: 1 + numberOfRepeatsAllowed − fills used. */
  fillsLeft: number;
  /** When the last dispensed supply runs out (undefined: never dispensed, or no supply duration known). */
  runsOutAt?: Date;
  last?: MedicationDispense;
}

/**
 * The supply of a prescription from its completed dispenses: the latest one's hand-over plus its days of supply (or
 * the request's expected supply duration, in days).
 */
export function supplyState(request: MedicationRequest, dispenses: MedicationDispense[]): SupplyState {
  const allowed = request.dispenseRequest?.numberOfRepeatsAllowed ?? 0;
  const fillsUsed = dispenses.length;
  const last = [...dispenses].sort((a, b) => handed(b) - handed(a))[0];
  const days = last?.daysSupply?.value ?? daysOf(request.dispenseRequest?.expectedSupplyDuration);
  const runsOutAt = last && handed(last) && days ? new Date(handed(last) + days * DAY_MS) : undefined;
  return { fillsUsed, fillsLeft: Math.max(0, allowed + 1 - fillsUsed), runsOutAt, last };
}

function handed(d: MedicationDispense): number {
  return Date.parse(d.whenHandedOver ?? d.whenPrepared ?? '') || 0;
}

function daysOf(duration: { value?: number; code?: string; unit?: string } | undefined): number | undefined {
  if (!duration?.value) return undefined;
  const unit = duration.code ?? duration.unit;
  return unit === 'wk' ? duration.value * 7 : unit === 'mo' ? duration.value * 30 : duration.value;
}
