import type { Appointment, Bundle, Slot } from '@medplum/fhirtypes';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir } from '../../../test/harness.ts';
import { adminApi, adminToken, launchToken, oidcClient, startAuthServer } from '../../../test/auth-helpers.ts';
import { appointment, as, at, clinic, put, resourcesOf } from './fixtures.ts';

/**
 * `$book` and `$find` under confined tokens: a patient books only for itself, a read-only token gets 403 and
 * nothing changes, and `$find` answers only from what the caller may read.
 */
const REDIRECT = 'http://127.0.0.1:9/callback';
let server: Tributary;
let admin: string;
let slots: Slot[];
const tokens: Record<string, string> = {};

const proposal = (patient: string, slotId: string): Appointment => ({
  resourceType: 'Appointment',
  status: 'proposed',
  slot: [{ reference: `Slot/${slotId}` }],
  participant: [
    { actor: { reference: 'Practitioner/drA' }, status: 'needs-action' },
    { actor: { reference: `Patient/${patient}` }, status: 'needs-action' },
  ],
});
const slotStatus = async (id: string) =>
  ((await fhir(server, 'GET', `Slot/${id}`, undefined, as(admin))).body as Slot).status;
const ids = (bundle: Bundle) => resourcesOf<Slot>(bundle).map((s) => s.id);

beforeAll(async () => {
  server = await startAuthServer();
  admin = await adminToken(server);
  await put(server, admin, { resourceType: 'Patient', id: 'pa' }, { resourceType: 'Patient', id: 'pb' });
  slots = await clinic(server, admin, 'drA', 6);
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'pat',
    password: 'pat password',
    role: 'patient',
    fhirUser: 'Patient/pa',
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'booking-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
  const app = await oidcClient(server, 'booking-app', client.None());
  const user = { username: 'pat', password: 'pat password', patient: 'pa' };
  tokens.patientWrite = await launchToken(server, admin, app, REDIRECT, 'launch patient/*.cruds', user, 'pa');
  tokens.patientRead = await launchToken(server, admin, app, REDIRECT, 'launch patient/*.rs', user, 'pa');
  tokens.readOnly = await adminToken(server, 'system/*.rs');
  tokens.busySlotsOnly = await adminToken(
    server,
    'system/Appointment.rs system/Schedule.rs system/Slot.rs?status=busy',
  );
}, 120_000);

afterAll(async () => {
  await server?.close();
});

describe('$book under confined tokens', () => {
  it('a patient token books for its own patient', async () => {
    const res = await fhir(
      server,
      'POST',
      'Appointment/$book',
      proposal('pa', slots[0].id as string),
      as(tokens.patientWrite),
    );
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('booked');
    expect(await slotStatus(slots[0].id as string)).toBe('busy');
  });

  it('a patient token may not book for another patient: 403, the Slot stays free', async () => {
    const res = await fhir(
      server,
      'POST',
      'Appointment/$book',
      proposal('pb', slots[1].id as string),
      as(tokens.patientWrite),
    );
    expect(res.status).toBe(403);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(await slotStatus(slots[1].id as string)).toBe('free');
  });

  it('read-only tokens get 403 and nothing is written', async () => {
    for (const token of [tokens.patientRead, tokens.readOnly]) {
      const res = await fhir(server, 'POST', 'Appointment/$book', proposal('pa', slots[2].id as string), as(token));
      expect(res.status).toBe(403);
      expect(await slotStatus(slots[2].id as string)).toBe('free');
    }
    const booked = await fhir(server, 'GET', `Appointment?slot=Slot/${slots[2].id}`, undefined, as(admin));
    expect(booked.body.entry ?? []).toEqual([]);
  });

  it('without a token: 401', async () => {
    expect((await fhir(server, 'POST', 'Appointment/$book', proposal('pa', slots[3].id as string))).status).toBe(401);
  });
});

describe('$find under confined tokens', () => {
  const window = `practitioner=drA&start=${at(9)}&end=${at(12)}`;

  it('a patient sees the free Slots; another patient’s bookings neither show nor leak through `patient`', async () => {
    const other = appointment('drB', 'pb', slots[4].start as string, slots[4].end as string);
    expect((await fhir(server, 'POST', 'Appointment', other, as(admin))).status).toBe(201);
    const own = await fhir(server, 'GET', `Appointment/$find?${window}`, undefined, as(tokens.patientRead));
    expect(own.status).toBe(200);
    const free = slots.slice(1).map((s) => s.id);
    expect(ids(own.body)).toEqual(free);
    // with full access, pb's booking takes slot 4 away; the patient token cannot see pb's Appointments
    const full = await fhir(server, 'GET', `Appointment/$find?${window}&patient=pb`, undefined, as(admin));
    expect(ids(full.body)).not.toContain(slots[4].id);
    const probe = await fhir(
      server,
      'GET',
      `Appointment/$find?${window}&patient=pb`,
      undefined,
      as(tokens.patientRead),
    );
    expect(ids(probe.body)).toEqual(free);
  });

  it('a token confined to busy Slots finds none free; one without Slot access gets 403', async () => {
    const busy = await fhir(server, 'GET', `Appointment/$find?${window}`, undefined, as(tokens.busySlotsOnly));
    expect(busy.status).toBe(200);
    expect(busy.body.entry).toEqual([]);
    const noSlots = await adminToken(server, 'system/Appointment.rs system/Schedule.rs');
    expect((await fhir(server, 'GET', `Appointment/$find?${window}`, undefined, as(noSlots))).status).toBe(403);
  });
});
