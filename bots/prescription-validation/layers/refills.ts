import type { MedicationDispense, MedicationRequest } from '@medplum/fhirtypes';
import { idOf, type CheckInput, type Finding, type Layer } from '../check.ts';
import { SCHEDULE_LIMITS } from '../tables/limits.ts';

const DAY_MS = 86_400_000;
/** A refill is too soon while more than this share of the last supply should remain (common payer rule: 75 % used). */
const TOO_SOON_SHARE = 0.25;

/**
 * Refills: validity period not expired, repeats not exhausted (dispenses so far against `numberOfRepeatsAllowed` + the
 * first fill), a refill not too soon for the last dispense's supply, and the federal limits of controlled substances
 * (21 CFR 1306.12, 1306.22).
 */
export const refillLayer: Layer = {
  check: 'refill',
  async run(input) {
    const { request, now } = input;
    const findings: Finding[] = [];
    const add = (severity: Finding['severity'], detail: string, mitigation: string, actCode?: string) =>
      findings.push({ check: 'refill', severity, detail, mitigation, ...(actCode ? { actCode } : {}) });
    const end = request.dispenseRequest?.validityPeriod?.end;
    if (end && endOf(end) < now.getTime())
      add('high', `The prescription’s validity period ended on ${end}.`, 'Issue a new prescription.');
    const own = await dispensesOf(input, request.id);
    const allowed = request.dispenseRequest?.numberOfRepeatsAllowed;
    if (allowed !== undefined && own.length > allowed)
      add(
        'high',
        `All ${allowed + 1} fills (1 + ${allowed} repeats) of this prescription were dispensed (${own.length} dispenses).`,
        'Issue a new prescription.',
      );
    const priorId = idOf(request.priorPrescription, 'MedicationRequest');
    const prior = priorId ? await input.reader.read<MedicationRequest>('MedicationRequest', priorId) : undefined;
    const priorDispenses = prior ? await dispensesOf(input, prior.id) : [];
    const priorAllowed = prior?.dispenseRequest?.numberOfRepeatsAllowed;
    if (prior && priorAllowed !== undefined && priorDispenses.length > priorAllowed)
      add(
        'high',
        `The prior prescription MedicationRequest/${prior.id} has no repeats left (${priorDispenses.length} of ${priorAllowed + 1} fills dispensed).`,
        'The prescriber must issue a new prescription rather than a refill.',
      );
    const last = [...own, ...priorDispenses].sort((a, b) => handed(b) - handed(a))[0];
    const days = last?.daysSupply?.value;
    if (last && days && (prior || own.length)) {
      const remaining = handed(last) + days * DAY_MS - now.getTime();
      if (remaining > days * TOO_SOON_SHARE * DAY_MS)
        add(
          'moderate',
          `Refill too soon: MedicationDispense/${last.id} supplied ${days} days on ${last.whenHandedOver}; about ${Math.ceil(remaining / DAY_MS)} days remain.`,
          'Dispense when at most a quarter of the supply remains, or document why earlier.',
          'TOOSOON',
        );
    }
    for (const ingredient of input.ingredients) {
      if (!ingredient.schedule) continue;
      const limit = SCHEDULE_LIMITS[ingredient.schedule];
      if ((allowed ?? 0) > limit.maxRefills)
        add(
          'high',
          `${ingredient.name} is schedule ${ingredient.schedule}: ${allowed} refills exceed the limit of ${limit.maxRefills} (${limit.source}).`,
          `Allow at most ${limit.maxRefills} refills.`,
        );
      const written = Date.parse(request.authoredOn ?? '') || now.getTime();
      if (limit.maxValidityDays && end && endOf(end) - written > limit.maxValidityDays * DAY_MS)
        add(
          'high',
          `${ingredient.name} is schedule ${ingredient.schedule}: validity beyond ${limit.maxValidityDays} days from the date written (${limit.source}).`,
          'End the validity period within 6 months of the date written.',
        );
    }
    return findings;
  },
};

async function dispensesOf({ reader }: CheckInput, id: string | undefined): Promise<MedicationDispense[]> {
  if (!id) return [];
  return reader.search<MedicationDispense>('MedicationDispense', {
    prescription: `MedicationRequest/${id}`,
    status: 'completed',
    _count: '200',
  });
}

function handed(d: MedicationDispense): number {
  return Date.parse(d.whenHandedOver ?? d.whenPrepared ?? '') || 0;
}

/** The end of a period's end (a date means the whole day). */
function endOf(end: string): number {
  return Date.parse(end) + (end.length === 10 ? DAY_MS - 1 : 0);
}
