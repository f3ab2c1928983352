import type { CarePlanActivity, Coding, Timing } from '@medplum/fhirtypes';

const DAY_MS = 86_400_000;
const PERIOD_DAYS: Record<string, number> = { h: 1 / 24, d: 1, wk: 7, mo: 30, a: 365 };

/** What a scheduled CarePlan activity expects: MedicationAdministrations of a drug, or Observations of a code. */
export interface ExpectedActivity {
  index: number;
  kind: 'medication' | 'observation';
  codes: Coding[];
  label: string;
  /** Events expected per day. */
  perDay: number;
}

/**
 * The activities of a CarePlan that can be checked: not stopped or cancelled, with a `scheduledTiming` repeat
 * (frequency per period) and a drug (`productCodeableConcept`, kind MedicationRequest) or an observation code
 * (`detail.code`, kind ServiceRequest/Task or none).
 */
export function expectedActivities(activities: CarePlanActivity[] | undefined): ExpectedActivity[] {
  const out: ExpectedActivity[] = [];
  (activities ?? []).forEach((activity, index) => {
    const d = activity.detail;
    if (!d || ['cancelled', 'stopped', 'not-started', 'entered-in-error', 'completed'].includes(d.status)) return;
    const perDay = perDayOf(d.scheduledTiming);
    if (!perDay) return;
    const medication = d.kind === 'MedicationRequest' || d.productCodeableConcept;
    const concept = medication ? d.productCodeableConcept : d.code;
    const codes = (concept?.coding ?? []).filter((c) => c.system && c.code);
    if (!codes.length) return;
    out.push({
      index,
      kind: medication ? 'medication' : 'observation',
      codes,
      label: concept?.text ?? codes[0].display ?? codes[0].code!,
      perDay,
    });
  });
  return out;
}

function perDayOf(timing: Timing | undefined): number | undefined {
  const r = timing?.repeat;
  if (!r?.frequency || !r.period || !r.periodUnit) return undefined;
  const days = r.period * (PERIOD_DAYS[r.periodUnit] ?? NaN);
  return days > 0 ? r.frequency / days : undefined;
}

/** How many events an activity expects in a window (whole events, rounded down). */
export function expectedCount(activity: ExpectedActivity, from: Date, to: Date): number {
  return Math.floor((activity.perDay * (to.getTime() - from.getTime())) / DAY_MS + 1e-9);
}
