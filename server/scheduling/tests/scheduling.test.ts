import type { Appointment, Bundle, OperationOutcome, Slot } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { appointment, at, clinic, put, resourcesOf } from './fixtures.ts';

/** Scheduling on a server without authorization: overlaps refused on every write path, `$book`, `$find`. */
let server: Tributary;
let slots: Slot[];

const patients = Array.from({ length: 100 }, (_, i) => ({ resourceType: 'Patient', id: `p${i}` }));
const diagnostics = (body: OperationOutcome) => body.issue?.map((i) => i.diagnostics).join(' ') ?? '';
const slotStatus = async (id: string) => ((await fhir(server, 'GET', `Slot/${id}`)).body as Slot).status;

beforeAll(async () => {
  server = await startTestServer({}, { DB_POOL_SIZE: '10' });
  await put(server, undefined, ...patients, { resourceType: 'Location', id: 'room1' });
  slots = await clinic(server, undefined, 'drA', 16);
  await clinic(server, undefined, 'drB', 4);
}, 120_000);

afterAll(async () => {
  await server?.close();
});

describe('no double booking on REST writes and transactions', () => {
  it('refuses an overlap with 409 naming the Appointment, accepts touching ones and other participants', async () => {
    const first = await fhir(server, 'POST', 'Appointment', appointment('drA', 'p1', at(14), at(14, 30)));
    expect(first.status).toBe(201);
    const clash = await fhir(server, 'POST', 'Appointment', appointment('drA', 'p2', at(14, 15), at(14, 45)));
    expect(clash.status).toBe(409);
    expect(clash.body.resourceType).toBe('OperationOutcome');
    expect(diagnostics(clash.body)).toContain(`Appointment/${first.body.id}`);
    expect(diagnostics(clash.body)).toContain('Practitioner/drA');
    // the same patient with another practitioner, in another zone's notation: still the patient's time
    const patientClash = await fhir(
      server,
      'POST',
      'Appointment',
      appointment('drB', 'p1', '2031-03-10T15:20:00+01:00', '2031-03-10T15:50:00+01:00'),
    );
    expect(patientClash.status).toBe(409);
    expect(diagnostics(patientClash.body)).toContain('Patient/p1');
    expect((await fhir(server, 'POST', 'Appointment', appointment('drA', 'p2', at(14, 30), at(15)))).status).toBe(201);
    expect((await fhir(server, 'POST', 'Appointment', appointment('drB', 'p2', at(14), at(14, 30)))).status).toBe(201);
    // proposed and cancelled ones hold no time
    const proposed = appointment('drA', 'p3', at(14), at(14, 30), { status: 'proposed' });
    expect((await fhir(server, 'POST', 'Appointment', proposed)).status).toBe(201);
    // updating an Appointment does not clash with itself; cancelling frees its time
    const moved = { ...first.body, end: at(14, 20) };
    expect((await fhir(server, 'PUT', `Appointment/${first.body.id}`, moved)).status).toBe(200);
    const cancelled = { ...first.body, status: 'cancelled' };
    expect((await fhir(server, 'PUT', `Appointment/${first.body.id}`, cancelled)).status).toBe(200);
    expect((await fhir(server, 'POST', 'Appointment', appointment('drA', 'p4', at(14), at(14, 30)))).status).toBe(201);
  });

  it('a shared Location is a conflict too; a Device is not', async () => {
    const room = { actor: { reference: 'Location/room1' }, status: 'accepted' as const };
    const a = appointment('drA', 'p5', at(8), at(8, 30), {});
    a.participant.push(room);
    expect((await fhir(server, 'POST', 'Appointment', a)).status).toBe(201);
    const b = appointment('drB', 'p6', at(8, 10), at(8, 20));
    b.participant.push(room);
    expect((await fhir(server, 'POST', 'Appointment', b)).status).toBe(409);
    const device = { actor: { reference: 'Device/ecg' }, status: 'accepted' as const };
    const c = appointment('drA', 'p5', at(6), at(6, 30));
    const d = appointment('drB', 'p6', at(6), at(6, 30));
    c.participant.push(device);
    d.participant.push(device);
    expect((await fhir(server, 'POST', 'Appointment', c)).status).toBe(201);
    expect((await fhir(server, 'POST', 'Appointment', d)).status).toBe(201);
  });

  it('refuses a transaction whose entries overlap each other, and keeps none of it', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: appointment('drB', 'p7', at(7), at(7, 30)), request: { method: 'POST', url: 'Appointment' } },
        { resource: appointment('drB', 'p8', at(7, 29), at(8)), request: { method: 'POST', url: 'Appointment' } },
      ],
    };
    const res = await fhir(server, 'POST', '', bundle);
    expect(res.status).toBe(409);
    const left = await fhir(server, 'GET', 'Appointment?actor=Practitioner/drB&date=lt2031-03-10T08:00:00Z');
    expect(resourcesOf<Appointment>(left.body).filter((a) => a.start === at(7))).toEqual([]);
  });

  it('accepts what R4 allows and EHR feeds send: an Appointment ending before it starts, or lasting over 7 days', async () => {
    const reversed = await fhir(server, 'POST', 'Appointment', appointment('drA', 'p9', at(12), at(11)));
    expect(reversed.status).toBe(201);
    const long = await fhir(server, 'POST', 'Appointment', appointment('drA', 'p9', at(12, 0, 21), at(12, 0, 29)));
    expect(long.status).toBe(201);
    // the long one holds its time: a booking starting inside it is refused
    const inside = await fhir(server, 'POST', 'Appointment', appointment('drA', 'p8', at(12, 0, 22), at(13, 0, 22)));
    expect(inside.status).toBe(409);
  });

  it('100 concurrent creates of one time for one practitioner: exactly one 201, the others 409', async () => {
    const results = await Promise.all(
      patients.map((p) => fhir(server, 'POST', 'Appointment', appointment('drB', p.id, at(19), at(19, 30)))),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(99);
    const stored = await fhir(server, 'GET', `Appointment?actor=Practitioner/drB&date=${at(19)}`);
    expect(stored.body.entry).toHaveLength(1);
  });
});

describe('Appointment/$book', () => {
  const proposal = (patient: string, slotIds: string[], extra: Partial<Appointment> = {}): Appointment => ({
    resourceType: 'Appointment',
    status: 'proposed',
    slot: slotIds.map((id) => ({ reference: `Slot/${id}` })),
    participant: [
      { actor: { reference: 'Practitioner/drA' }, status: 'needs-action' },
      { actor: { reference: `Patient/${patient}` }, status: 'needs-action' },
    ],
    ...extra,
  });

  it('books free Slots atomically (busy, booked, accepted), 409 once taken, frees them on cancellation', async () => {
    const [s0, s1] = [slots[0].id as string, slots[1].id as string];
    const res = await fhir(server, 'POST', 'Appointment/$book', proposal('p10', [s0, s1]));
    expect(res.status).toBe(201);
    const booked = res.body as Appointment;
    expect(booked.status).toBe('booked');
    expect([booked.start, booked.end]).toEqual([at(9), at(10)]);
    expect(booked.participant.map((p) => p.status)).toEqual(['accepted', 'accepted']);
    expect(res.headers.get('location')).toContain(`Appointment/${booked.id}`);
    expect([await slotStatus(s0), await slotStatus(s1)]).toEqual(['busy', 'busy']);
    const again = await fhir(server, 'POST', 'Appointment/$book', proposal('p11', [s1]));
    expect(again.status).toBe(409);
    expect(diagnostics(again.body)).toContain(`Slot/${s1}`);
    const noshow = await fhir(server, 'PUT', `Appointment/${booked.id}`, { ...booked, status: 'noshow' });
    expect(noshow.status).toBe(200);
    expect([await slotStatus(s0), await slotStatus(s1)]).toEqual(['free', 'free']);
    const parameters = {
      resourceType: 'Parameters',
      parameter: [{ name: 'appointment', resource: proposal('p11', [s1]) }],
    };
    expect((await fhir(server, 'POST', 'Appointment/$book', parameters)).status).toBe(201);
  });

  it('100 concurrent $book of one Slot: exactly one succeeds, and the Slot is busy once', async () => {
    const id = slots[4].id as string;
    const results = await Promise.all(
      patients.map((p) => fhir(server, 'POST', 'Appointment/$book', proposal(p.id, [id]))),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(99);
    const stored = await fhir(server, 'GET', `Appointment?slot=Slot/${id}`);
    expect(stored.body.entry).toHaveLength(1);
    const history = await fhir(server, 'GET', `Slot/${id}/_history`);
    expect(resourcesOf<Slot>(history.body).filter((s) => s.status === 'busy')).toHaveLength(1);
  });

  it('answers bad input with a 4xx OperationOutcome and changes nothing', async () => {
    const id = slots[6].id as string;
    const cases: [unknown, number][] = [
      [proposal('p12', []), 400],
      [proposal('p12', ['unknown-slot']), 404],
      [proposal('p12', [id], { start: at(6) }), 400],
      [{ ...proposal('p12', [id]), slot: [{ reference: 'Slot/a\u0000b' }] }, 400],
      [{ resourceType: 'Patient' }, 400],
      [proposal('p12', [id], { participant: [] }), 400],
      ['not json', 400],
      [proposal('p12', [id], { id: '../Patient/p1' }), 400],
      [
        proposal(
          'p12',
          Array.from({ length: 101 }, (_, i) => `many-${i}`),
        ),
        400,
      ],
    ];
    for (const [body, status] of cases) {
      const res = await fhir(server, 'POST', 'Appointment/$book', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    expect(await slotStatus(id)).toBe('free');
  });
});

describe('Appointment/$find', () => {
  const find = (query: string) => fhir(server, 'GET', `Appointment/$find?${query}`);
  const ids = (res: { body: Bundle }) => resourcesOf<Slot>(res.body).map((s) => s.id);

  it('lists free Slots in the window, earliest first, without those overlapping bookings', async () => {
    await clinic(server, undefined, 'drC', 6, 12);
    const all = await find(`practitioner=Practitioner/drC&start=2031-03-12&end=2031-03-13`);
    expect(all.status).toBe(200);
    expect(all.body.type).toBe('searchset');
    expect(ids(all)).toEqual(['drC-12-0', 'drC-12-1', 'drC-12-2', 'drC-12-3', 'drC-12-4', 'drC-12-5']);
    // booked outside $book (its Slot still says free): the practitioner's time is taken anyway
    expect(
      (await fhir(server, 'POST', 'Appointment', appointment('drC', 'p20', at(9, 0, 12), at(9, 45, 12)))).status,
    ).toBe(201);
    const window = `start=${at(9, 0, 12)}&end=${at(11, 30, 12)}`;
    expect(ids(await find(`practitioner=drC&${window}`))).toEqual(['drC-12-2', 'drC-12-3', 'drC-12-4']);
    // the patient's own bookings elsewhere are excluded when asked
    expect(
      (await fhir(server, 'POST', 'Appointment', appointment('drB', 'p21', at(10, 0, 12), at(10, 30, 12)))).status,
    ).toBe(201);
    expect(ids(await find(`practitioner=drC&${window}&patient=Patient/p21`))).toEqual(['drC-12-3', 'drC-12-4']);
    expect(ids(await find(`practitioner=drC&${window}&duration=31`))).toEqual([]);
    expect(ids(await find(`practitioner=Practitioner/nobody&${window}`))).toEqual([]);
  });

  it('answers bad input with a 4xx OperationOutcome', async () => {
    const w = 'start=2031-03-12&end=2031-03-13';
    for (const query of [
      w,
      'practitioner=drC&start=2031-03-12',
      'practitioner=drC&start=2031-03-13&end=2031-03-12',
      'practitioner=drC&start=2031-01-01&end=2031-12-31',
      `practitioner=drC&${w}&duration=0`,
      `practitioner=drC&${w}&duration=abc`,
      `practitioner=Patient/p1&${w}`,
      `practitioner=drC%00&${w}`,
      'practitioner=drC&start=2031-03-12T09:00:00&end=2031-03-13',
      `practitioner=drC&practitioner=drB&${w}`,
    ]) {
      const res = await find(query);
      expect(res.status, query).toBeGreaterThanOrEqual(400);
      expect(res.status, query).toBeLessThan(500);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
  });
});
