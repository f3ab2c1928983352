import type { Appointment, Bundle, Schedule, Slot } from '@medplum/fhirtypes';
import type { FhirRouter } from '../core/router.ts';
import type { FhirContext, FhirHandler, FhirRequest } from '../core/types.ts';
import { badRequest, tooCostly } from '../fhir/outcomes.ts';
import { ACTIVE_STATUSES, instantMs, intervalOf, MAX_SPAN_MS, overlaps, type Interval } from './intervals.ts';
import { SCHEDULING_ACCESS, searchAll } from './lookup.ts';

/** The widest `$find` window (62 days: the 8-week rolling window of generated Slots, and some). */
export const MAX_FIND_WINDOW_MS = 62 * 24 * 3600_000;

/** The most free Slots one `$find` answers (the earliest ones). */
export const MAX_FIND_SLOTS = 1000;

/**
 * `GET Appointment/$find?practitioner=…&start=…&end=…[&duration=minutes][&patient=…]`: a searchset Bundle of the
 * free Slots, earliest first, of the practitioner's active Schedules that lie wholly in [start, end), last at least
 * `duration` minutes, and overlap no active Appointment of the practitioner (nor of `patient`, when given). Slots and
 * the patient's Appointments are searched as the caller (it sees only what it may read); the practitioner's Schedules
 * and Appointments as the server, since they only choose and take away Slots (a Schedule is in the Patient
 * compartment, by its actor, so a patient token could not see a practitioner's).
 */
export function findHandler(router: FhirRouter): FhirHandler {
  return async (ctx, req) => {
    const practitioner = referenceParam(req, 'practitioner', ['Practitioner', 'PractitionerRole'], true) as string;
    const patient = referenceParam(req, 'patient', ['Patient'], false);
    const window = windowOf(req);
    const duration = durationOf(req);
    const serverCtx: FhirContext = { ...ctx, access: SCHEDULING_ACCESS };
    const schedules = (await searchAll<Schedule>(router, serverCtx, 'Schedule', { actor: practitioner })).filter(
      (s) => s.active !== false,
    );
    const found: Slot[] = [];
    if (schedules.length > 0) {
      // Slots are searched by Schedule alone, and their status, window and order checked here: with `start` ranges
      // (or `status=free`, true of nearly every Slot) the search engine's plan walked all 128,000 Slots of
      // bench/scheduling.ts past the search timeout; by Schedule alone it is an index lookup (2 ms).
      const slots = await searchAll<Slot>(router, ctx, 'Slot', {
        schedule: schedules.map((s) => `Schedule/${s.id}`).join(','),
      });
      slots.sort(
        (a, b) => (instantMs(a.start) ?? 0) - (instantMs(b.start) ?? 0) || (a.id ?? '').localeCompare(b.id ?? ''),
      );
      const taken = await busyTimes(router, ctx, practitioner, patient, window);
      for (const slot of slots) {
        const span = intervalOf(slot);
        if (
          slot.status !== 'free' ||
          !span ||
          span.start < window.start ||
          span.end > window.end ||
          span.end - span.start < duration
        )
          continue;
        if (taken.some((t) => overlaps(t, span))) continue;
        found.push(slot);
        if (found.length === MAX_FIND_SLOTS) break;
      }
    }
    const bundle: Bundle<Slot> = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: found.length,
      entry: found.map((slot) => ({
        fullUrl: `${ctx.baseUrl}/Slot/${slot.id}`,
        resource: slot,
        search: { mode: 'match' },
      })),
    };
    return { status: 200, resource: bundle };
  };
}

/** Times taken by active Appointments of the practitioner (as the server) and of the patient (as the caller). */
async function busyTimes(
  router: FhirRouter,
  ctx: FhirContext,
  practitioner: string,
  patient: string | undefined,
  window: Interval,
): Promise<Interval[]> {
  const query = (actor: string) => ({
    actor,
    status: [...ACTIVE_STATUSES].join(','),
    date: [`lt${new Date(window.end).toISOString()}`, `gt${new Date(window.start - MAX_SPAN_MS).toISOString()}`],
  });
  const serverCtx: FhirContext = { ...ctx, access: SCHEDULING_ACCESS };
  const appointments = await searchAll<Appointment>(router, serverCtx, 'Appointment', query(practitioner));
  if (patient) appointments.push(...(await searchAll<Appointment>(router, ctx, 'Appointment', query(patient))));
  return appointments.map(intervalOf).filter((i): i is Interval => i !== undefined);
}

function single(req: FhirRequest, name: string): string | undefined {
  const values = req.query[name];
  if (!values || values.length === 0) return undefined;
  if (values.length > 1) throw badRequest(`$find takes one "${name}"`, name);
  return values[0];
}

/** A reference parameter: `Type/id` or a bare id of the first type. */
function referenceParam(req: FhirRequest, name: string, types: string[], required: boolean): string | undefined {
  const value = single(req, name);
  if (value === undefined) {
    if (required) throw badRequest(`$find needs "${name}"`, name);
    return undefined;
  }
  const m = /^(?:([A-Za-z]+)\/)?([A-Za-z0-9\-.]{1,64})$/.exec(value);
  if (!m || (m[1] !== undefined && !types.includes(m[1])))
    throw badRequest(`"${name}" must be a reference to ${types.join(' or ')}`, name);
  return `${m[1] ?? types[0]}/${m[2]}`;
}

/** The [start, end) window: instants with an offset, or dates (midnight UTC); 400 when empty, reversed or too wide. */
function windowOf(req: FhirRequest): Interval {
  const bound = (name: string) => {
    const value = single(req, name);
    if (value === undefined) throw badRequest(`$find needs "${name}"`, name);
    const ms = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : instantMs(value);
    if (ms === undefined || Number.isNaN(ms))
      throw badRequest(`"${name}" must be a date or an instant with a time zone`, name);
    return ms;
  };
  const window = { start: bound('start'), end: bound('end') };
  if (window.end <= window.start) throw badRequest('"end" must be after "start"', 'end');
  if (window.end - window.start > MAX_FIND_WINDOW_MS) throw tooCostly('$find searches at most 62 days at once', 'end');
  return window;
}

/** The least Slot length asked for, in milliseconds (`duration` in minutes, 1 to 1440). */
function durationOf(req: FhirRequest): number {
  const value = single(req, 'duration');
  if (value === undefined) return 0;
  if (!/^\d{1,4}$/.test(value) || +value < 1 || +value > 1440)
    throw badRequest('"duration" must be a number of minutes from 1 to 1440', 'duration');
  return +value * 60_000;
}
