import type { Appointment, Slot } from '@medplum/fhirtypes';
import type { Repository } from '../core/repository.ts';
import type { FhirRouter } from '../core/router.ts';
import type { FhirContext } from '../core/types.ts';
import type { WriteCheck } from '../core/write-checks.ts';
import { conflict, OutcomeError } from '../fhir/outcomes.ts';
import {
  ACTIVE_STATUSES,
  checkedParticipants,
  intervalOf,
  isActive,
  MAX_SPAN_MS,
  overlaps,
  RELEASING_STATUSES,
} from './intervals.ts';
import { SCHEDULING_ACCESS, searchAll } from './lookup.ts';

/**
 * The write check on every Appointment write (REST create/update/patch, transaction entries, HL7 SIU, `$book`):
 * - an active Appointment (intervals.ts ACTIVE_STATUSES) must not overlap another active one of the same
 *   Practitioner, PractitionerRole, Patient or Location: 409 naming the other Appointment and the shared participant.
 *   Race-free: a transaction-scoped advisory lock per participant, taken in sorted order, serialises the check and
 *   the write of every Appointment that shares a participant until its transaction commits;
 * - an Appointment becoming cancelled, noshow or entered-in-error frees its busy Slots that no other active
 *   Appointment holds, in the same transaction.
 */
export function appointmentCheck(router: FhirRouter, baseUrl: string): WriteCheck {
  return async (resource, { repo }) => {
    const appointment = resource as Appointment;
    const ctx: FhirContext = { repo, baseUrl, requestId: 'scheduling', access: SCHEDULING_ACCESS };
    if (RELEASING_STATUSES.has(appointment.status)) await releaseSlots(router, ctx, appointment);
    if (isActive(appointment)) await refuseOverlaps(router, ctx, appointment);
  };
}

async function refuseOverlaps(router: FhirRouter, ctx: FhirContext, appointment: Appointment): Promise<void> {
  const span = intervalOf(appointment);
  const participants = checkedParticipants(appointment);
  if (!span || participants.length === 0) return;
  // R4 sets no rule on either, and EHR feeds (SIU) send both: an Appointment ending when or before it starts holds no
  // time and is not checked; a longer one than MAX_SPAN_MS is checked, but a later one may miss it (the look-back).
  if (span.end <= span.start) return;
  for (const ref of participants) await ctx.repo.advisoryLock(`scheduling:${ref}`);
  const candidates = await searchAll<Appointment>(router, ctx, 'Appointment', {
    actor: participants.join(','),
    status: [...ACTIVE_STATUSES].join(','),
    // repeated, `date` ANDs: started before this one ends, and not earlier than the longest Appointment accepted
    date: [`lt${new Date(span.end).toISOString()}`, `gt${new Date(span.start - MAX_SPAN_MS).toISOString()}`],
  });
  for (const other of candidates) {
    const otherSpan = intervalOf(other);
    if (other.id === appointment.id || !otherSpan || !overlaps(span, otherSpan)) continue;
    const shared = checkedParticipants(other).filter((ref) => participants.includes(ref));
    if (shared.length === 0) continue;
    throw conflict(
      `${shared.join(', ')} is already booked from ${other.start} to ${other.end} by Appointment/${other.id}`,
      'Appointment.participant',
    );
  }
}

/** Frees the Slots of an Appointment that gives its time back, unless it had already done so. */
async function releaseSlots(router: FhirRouter, ctx: FhirContext, appointment: Appointment): Promise<void> {
  const slotIds = slotIdsOf(appointment);
  if (slotIds.length === 0) return;
  if (appointment.id) {
    const before = await ctx.repo.readCurrent('Appointment', appointment.id);
    const previous = before?.content ? (JSON.parse(before.content) as Appointment) : undefined;
    if (previous && RELEASING_STATUSES.has(previous.status)) return;
  }
  for (const id of slotIds) {
    const slot = await lockSlot(ctx.repo, id);
    if (slot?.status !== 'busy') continue;
    const holders = await searchAll<Appointment>(router, ctx, 'Appointment', {
      slot: `Slot/${id}`,
      status: [...ACTIVE_STATUSES].join(','),
    });
    if (holders.some((a) => a.id !== appointment.id)) continue;
    await ctx.repo.update({ ...slot, id, status: 'free' });
  }
}

/** The ids of the local Slot references of an Appointment, sorted and without duplicates. */
export function slotIdsOf(appointment: Pick<Appointment, 'slot'>): string[] {
  const ids = new Set<string>();
  for (const s of appointment.slot ?? []) {
    const m = /^Slot\/([A-Za-z0-9\-.]{1,64})$/.exec(s.reference ?? '');
    if (m) ids.add(m[1]);
  }
  return [...ids].sort();
}

/** Locks a live Slot's row until the transaction ends and returns it; undefined when it is unknown or deleted. */
export async function lockSlot(repo: Repository, id: string): Promise<Slot | undefined> {
  try {
    const row = await repo.readForUpdate('Slot', id);
    return JSON.parse(row.content as string) as Slot;
  } catch (err) {
    if (err instanceof OutcomeError && (err.status === 404 || err.status === 410)) return undefined;
    throw err;
  }
}
