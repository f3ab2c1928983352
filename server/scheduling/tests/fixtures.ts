import type { Appointment, Bundle, Slot } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir } from '../../../test/harness.ts';

/** Headers of a request (a bearer token when given). */
export const as = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

/** A day far from now, so tests never depend on the clock: `at(9, 30)` is 09:30Z that day. */
export const at = (hour: number, minute = 0, day = 10) =>
  `2031-03-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00Z`;

/** Stores resources with client ids (PUT), failing the test on anything but 200/201. */
export async function put(
  server: Tributary,
  token: string | undefined,
  ...resources: { resourceType: string; id: string }[]
) {
  for (const r of resources) {
    const res = await fhir(server, 'PUT', `${r.resourceType}/${r.id}`, r, as(token));
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  }
}

/** A Practitioner, a Schedule for them and `count` free 30-minute Slots from 09:00Z on `day`. */
export async function clinic(server: Tributary, token: string | undefined, name: string, count: number, day = 10) {
  await put(server, token, { resourceType: 'Practitioner', id: name }, {
    resourceType: 'Schedule',
    id: `${name}-schedule`,
    actor: [{ reference: `Practitioner/${name}` }],
  } as never);
  const slots: Slot[] = [];
  for (let i = 0; i < count; i++) {
    const slot: Slot = {
      resourceType: 'Slot',
      id: `${name}-${day}-${i}`,
      schedule: { reference: `Schedule/${name}-schedule` },
      status: 'free',
      start: at(9 + Math.floor(i / 2), (i % 2) * 30, day),
      end: at(9 + Math.floor((i + 1) / 2), ((i + 1) % 2) * 30, day),
    };
    slots.push(slot);
  }
  await put(server, token, ...(slots as { resourceType: string; id: string }[]));
  return slots;
}

/** An Appointment of a practitioner and a patient (and optionally its Slots). */
export function appointment(
  practitioner: string,
  patient: string,
  start: string,
  end: string,
  extra: Partial<Appointment> = {},
): Appointment {
  return {
    resourceType: 'Appointment',
    status: 'booked',
    start,
    end,
    participant: [
      { actor: { reference: `Practitioner/${practitioner}` }, status: 'accepted' },
      { actor: { reference: `Patient/${patient}` }, status: 'accepted' },
    ],
    ...extra,
  };
}

/** The resources of a searchset. */
export function resourcesOf<T>(bundle: Bundle): T[] {
  return (bundle.entry ?? []).map((e) => e.resource as T);
}
