import type { Appointment } from '@medplum/fhirtypes';

/**
 * Appointment statuses that hold their time: every status but `proposed` (not yet agreed), `waitlist` (a wish for a
 * time, not a booking), `cancelled`, `noshow` and `entered-in-error`.
 */
export const ACTIVE_STATUSES: ReadonlySet<string> = new Set([
  'pending',
  'booked',
  'arrived',
  'fulfilled',
  'checked-in',
]);

/** Statuses that give an Appointment's Slots back. */
export const RELEASING_STATUSES: ReadonlySet<string> = new Set(['cancelled', 'noshow', 'entered-in-error']);

/** Participant types whose double booking is a conflict: the people and the place. */
export const CHECKED_ACTORS: ReadonlySet<string> = new Set(['Practitioner', 'PractitionerRole', 'Patient', 'Location']);

/**
 * The longest active Appointment accepted (7 days): overlap search looks back this far from a new Appointment's
 * start, so a longer one could hide a conflict and is refused instead.
 */
export const MAX_SPAN_MS = 7 * 24 * 3600_000;

/** A half-open time interval [start, end) in epoch milliseconds. */
export interface Interval {
  start: number;
  end: number;
}

/** Parses a FHIR instant (with its offset) to epoch milliseconds, or undefined when it is not one. */
export function instantMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value))
    return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The time an Appointment takes, when it has both a start and an end. */
export function intervalOf(appointment: Pick<Appointment, 'start' | 'end'>): Interval | undefined {
  const start = instantMs(appointment.start);
  const end = instantMs(appointment.end);
  return start === undefined || end === undefined ? undefined : { start, end };
}

/** Whether two half-open intervals share an instant: one ending when the other starts is no overlap. */
export function overlaps(a: Interval, b: Interval): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Whether an Appointment holds its time (an active status). */
export function isActive(appointment: Pick<Appointment, 'status'>): boolean {
  return ACTIVE_STATUSES.has(appointment.status);
}

/**
 * The participants an Appointment must not double-book: local references to checked actor types of participants
 * that have not declined, sorted and without duplicates (the order advisory locks are taken in).
 */
export function checkedParticipants(appointment: Pick<Appointment, 'participant'>): string[] {
  const refs = new Set<string>();
  for (const p of appointment.participant ?? []) {
    const ref = p.actor?.reference;
    if (!ref || p.status === 'declined') continue;
    const [type, id, ...rest] = ref.split('/');
    if (rest.length === 0 && id && CHECKED_ACTORS.has(type)) refs.add(`${type}/${id}`);
  }
  return [...refs].sort();
}
