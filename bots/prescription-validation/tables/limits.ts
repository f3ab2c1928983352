/**
 * Dose and controlled-substance limits; sources per row in ../README.md (US FDA labels via DailyMed for maximum
 * daily doses, 21 CFR 1306 for controlled-substance refills).
 */

/** The most an adult may take per day, and a child per kg per day (capped at the adult dose), in mg. */
export interface DoseLimit {
  adultMaxMgPerDay: number;
  pediatricMaxMgPerKgPerDay?: number;
  /** Where the figures come from (the FDA label section). */
  source: string;
}

/** Maximum daily doses by RxNorm ingredient code. */
export const DOSE_LIMITS: ReadonlyMap<string, DoseLimit> = new Map([
  ['161', { adultMaxMgPerDay: 4000, pediatricMaxMgPerKgPerDay: 75, source: 'acetaminophen OTC Drug Facts; AAP' }],
  ['5640', { adultMaxMgPerDay: 3200, pediatricMaxMgPerKgPerDay: 40, source: 'Motrin label §2' }],
  ['7258', { adultMaxMgPerDay: 1500, pediatricMaxMgPerKgPerDay: 15, source: 'Naprosyn label §2' }],
  ['1191', { adultMaxMgPerDay: 4000, source: 'aspirin OTC monograph 21 CFR 343' }],
  ['723', { adultMaxMgPerDay: 3000, pediatricMaxMgPerKgPerDay: 90, source: 'Amoxil label §2' }],
  ['2231', { adultMaxMgPerDay: 4000, pediatricMaxMgPerKgPerDay: 100, source: 'Keflex label §2' }],
  ['6809', { adultMaxMgPerDay: 2550, pediatricMaxMgPerKgPerDay: 2000 / 40, source: 'Glucophage label §2' }],
  ['29046', { adultMaxMgPerDay: 80, pediatricMaxMgPerKgPerDay: 0.61, source: 'Zestril label §2' }],
  ['17767', { adultMaxMgPerDay: 10, pediatricMaxMgPerKgPerDay: 5 / 40, source: 'Norvasc label §2' }],
  ['36567', { adultMaxMgPerDay: 40, source: 'Zocor label §2.2 (80 mg restricted)' }],
  ['83367', { adultMaxMgPerDay: 80, source: 'Lipitor label §2' }],
  ['11289', { adultMaxMgPerDay: 10, source: 'Coumadin label §2 (maintenance 2–10 mg)' }],
  ['10689', { adultMaxMgPerDay: 400, source: 'Ultram label §2' }],
  ['7804', { adultMaxMgPerDay: 80, source: 'Roxicodone label §2; opioid-naive ceiling per CDC 2022 (90 MME)' }],
  ['596', { adultMaxMgPerDay: 4, source: 'Xanax label §2 (anxiety)' }],
  ['39993', { adultMaxMgPerDay: 10, source: 'Ambien label §2' }],
  ['6851', { adultMaxMgPerDay: 25, source: 'Trexall label §2 (weekly RA dose taken on one day)' }],
  ['25480', { adultMaxMgPerDay: 3600, pediatricMaxMgPerKgPerDay: 50, source: 'Neurontin label §2' }],
  ['10582', { adultMaxMgPerDay: 0.3, source: 'Synthroid label §2' }],
]);

/** Federal limits on refills of a controlled substance (US DEA schedules). */
export interface ScheduleLimit {
  /** Refills allowed at most (`numberOfRepeatsAllowed`). */
  maxRefills: number;
  /** Longest validity from the date written, in days (undefined: no federal limit). */
  maxValidityDays?: number;
  source: string;
}

export const SCHEDULE_LIMITS: Record<'II' | 'III' | 'IV' | 'V', ScheduleLimit> = {
  II: { maxRefills: 0, source: '21 CFR 1306.12(a): no refills of a schedule II prescription' },
  III: { maxRefills: 5, maxValidityDays: 183, source: '21 CFR 1306.22(a): ≤ 5 refills within 6 months' },
  IV: { maxRefills: 5, maxValidityDays: 183, source: '21 CFR 1306.22(a): ≤ 5 refills within 6 months' },
  V: { maxRefills: Number.MAX_SAFE_INTEGER, source: '21 CFR 1306.32: refills as authorized' },
};
