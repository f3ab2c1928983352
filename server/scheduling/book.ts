import type { Appointment, Parameters, Slot } from '@medplum/fhirtypes';
import { fhirRequest } from '../core/request.ts';
import { requireValidId, type FhirRouter } from '../core/router.ts';
import type { FhirContext, FhirHandler, WrittenVersion } from '../core/types.ts';
import { badRequest, conflict } from '../fhir/outcomes.ts';
import { slotIdsOf, lockSlot } from './conflicts.ts';
import { instantMs } from './intervals.ts';

/** The most Slots one `$book` takes (a whole day of quarter hours and some). */
export const MAX_BOOK_SLOTS = 100;

/**
 * `POST Appointment/$book`: the body is the proposed Appointment (or a Parameters with it as `appointment`)
 * referencing its Slot(s). In one transaction: each Slot is read as the caller (404 when it may not see it), locked,
 * and must still be `free` (else 409); the Appointment is written as the caller (`booked`, every participant
 * `accepted`, start/end those of its Slots), so the access guard judges it as a create (or, with an id, an update);
 * then the Slots become `busy` (written by the server: booking is what makes them busy). 201 with the Appointment
 * (200 when it updated one). The Appointment write check refuses overlaps as for any other write.
 */
export function bookHandler(router: FhirRouter): FhirHandler {
  return async (ctx, req) => {
    const proposed = proposedAppointment(req.body);
    const slotIds = slotIdsOf(proposed);
    if (slotIds.length === 0 || slotIds.length !== (proposed.slot ?? []).length)
      throw badRequest('$book needs an Appointment whose every slot is a reference "Slot/[id]"', 'Appointment.slot');
    if (slotIds.length > MAX_BOOK_SLOTS)
      throw badRequest(`$book takes at most ${MAX_BOOK_SLOTS} Slots at once`, 'Appointment.slot');
    if (proposed.id !== undefined) requireValidId(String(proposed.id));
    if (!(proposed.participant ?? []).length)
      throw badRequest('$book needs an Appointment with participants', 'Appointment.participant');
    return ctx.repo.transaction(async (repo) => {
      const inner: FhirContext = { ...ctx, repo };
      const slots: Slot[] = [];
      for (const id of slotIds) {
        await router.handle(inner, fhirRequest({ method: 'GET', url: `Slot/${id}` })); // 404 unless the caller sees it
        const slot = await lockSlot(repo, id);
        if (!slot) throw conflict(`Slot/${id} no longer exists`, 'Appointment.slot');
        if (slot.status !== 'free') throw conflict(`Slot/${id} is no longer free (${slot.status})`, 'Appointment.slot');
        slots.push(slot);
      }
      const booked: Appointment = {
        ...proposed,
        status: 'booked',
        ...timesOf(proposed, slots),
        participant: (proposed.participant ?? []).map((p) => ({ ...p, status: 'accepted' })),
      };
      const res = await router.handle(
        inner,
        fhirRequest({
          method: proposed.id ? 'PUT' : 'POST',
          url: proposed.id ? `Appointment/${proposed.id}` : 'Appointment',
          body: booked,
          headers: { preferReturn: 'representation' },
        }),
      );
      const written: WrittenVersion[] = [...(res.written ?? [])];
      for (const slot of slots) {
        const busy = await repo.update({ ...slot, id: slot.id as string, status: 'busy' });
        const versionId = busy.resource.meta?.versionId as string;
        written.push({ resourceType: 'Slot', id: slot.id as string, versionId, interaction: 'update' });
      }
      return { ...res, written };
    });
  };
}

function proposedAppointment(body: unknown): Appointment {
  let resource = body as Appointment | Parameters | undefined;
  if (resource?.resourceType === 'Parameters')
    resource = resource.parameter?.find((p) => p.name === 'appointment')?.resource as Appointment | undefined;
  if (!resource || typeof resource !== 'object' || resource.resourceType !== 'Appointment')
    throw badRequest('$book needs an Appointment (or a Parameters with an "appointment") as its body');
  return resource;
}

/** The Appointment's start and end: those of its Slots; 400 when it states other times. */
function timesOf(proposed: Appointment, slots: Slot[]): Pick<Appointment, 'start' | 'end'> {
  const starts = slots.map((s) => s.start).sort((a, b) => (instantMs(a) ?? 0) - (instantMs(b) ?? 0));
  const ends = slots.map((s) => s.end).sort((a, b) => (instantMs(b) ?? 0) - (instantMs(a) ?? 0));
  const times = { start: starts[0], end: ends[0] };
  for (const key of ['start', 'end'] as const) {
    if (proposed[key] !== undefined && instantMs(proposed[key]) !== instantMs(times[key]))
      throw badRequest(`Appointment.${key} differs from its Slots' (${times[key]})`, `Appointment.${key}`);
  }
  return times;
}
