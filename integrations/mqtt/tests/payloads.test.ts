import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../../server/app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import {
  connectDevice,
  heartRate,
  mqttPort,
  obsMessage,
  registerDevice,
  type DeviceClient,
  type TestDevice,
} from './helpers.ts';

/** Open mHealth examples (openmhealth/schemas test data), when FHIR_TESTDATA (default ../shared/data) has them. */
const OMH = resolve(
  process.env.FHIR_TESTDATA ?? resolve(import.meta.dirname, '../../../../shared/data'),
  'device/openmhealth',
);
const MAPPED = [
  'blood-pressure',
  'heart-rate',
  'oxygen-saturation',
  'body-temperature',
  'blood-glucose',
  'body-weight',
  'respiratory-rate',
  'step-count',
];

let server: Tributary;
let device: TestDevice;
let c: DeviceClient;

beforeAll(async () => {
  server = await startTestServer();
  device = await registerDevice(server);
  c = await connectDevice(mqttPort(server), device);
});
afterAll(async () => {
  await c?.end();
  await server?.close();
});

/** Publishes and waits for the ack: an Open mHealth bare body has no msgId, so the newest ack after publishing. */
async function publishForAck(kind: string, body: unknown, qos: 0 | 1 = 1): Promise<any> {
  const before = c.acks.length;
  await c.publish(kind, body, qos);
  for (let i = 0; i < 200 && c.acks.length === before; i++) await new Promise((r) => setTimeout(r, 25));
  if (c.acks.length === before) throw new Error(`no ack for ${kind}`);
  return c.acks[c.acks.length - 1];
}

async function observation(id: string) {
  return (await fhir(server, 'GET', `Observation/${id}`)).body;
}

describe('Open mHealth', () => {
  it('maps a blood-pressure 4.0 body on …/omh/blood-pressure/4.0 to a panel with LOINC components', async () => {
    const ack = await publishForAck('omh/blood-pressure/4.0', {
      systolic_blood_pressure: { value: 118, unit: 'mmHg' },
      diastolic_blood_pressure: { value: 76, unit: 'mmHg' },
      effective_time_frame: { date_time: '2026-12-01T07:25:00-08:00' },
    });
    expect(ack.status).toBe('stored');
    const obs = await observation(ack.observations[0]);
    expect(obs.code.coding.map((x: any) => x.code)).toEqual(['150020', '85354-9']);
    expect(obs.effectiveDateTime).toBe('2026-12-01T07:25:00-08:00');
    expect(obs.component.map((x: any) => x.valueQuantity.value)).toEqual([118, 76]);
  });

  it('maps a data point with its header on …/omh (the header id is the message id; a resend is stored once)', async () => {
    const point = {
      header: {
        id: 'omh-dp-1',
        creation_date_time: '2026-12-01T08:00:00Z',
        schema_id: { namespace: 'omh', name: 'body-temperature', version: '4.0' },
      },
      body: { body_temperature: { value: 99.1, unit: 'F' } },
    };
    const ack = await publishForAck('omh', point);
    expect(ack).toMatchObject({ msgId: 'omh-dp-1', status: 'stored' });
    const again = await publishForAck('omh', point);
    expect(again.observations).toEqual(ack.observations);
    const obs = await observation(ack.observations[0]);
    expect(obs.valueQuantity).toMatchObject({ value: 99.1, code: '[degF]' });
    expect(obs.effectiveDateTime).toBe('2026-12-01T08:00:00Z');
  });

  it.each([
    [
      'a missing value',
      'omh/heart-rate/2.0',
      { heart_rate: { unit: 'beats/min' } },
      /must have required property 'value'/,
    ],
    [
      'a unit the code cannot take',
      'omh/body-temperature/4.0',
      { body_temperature: { value: 310, unit: 'K' } },
      /unit "K" does not fit/,
    ],
    ['a schema not mapped', 'omh/physical-activity/1.0', { activity_name: 'walking' }, /not supported/],
    [
      'a version not known',
      'omh/heart-rate/9.0',
      { heart_rate: { value: 60, unit: 'beats/min' } },
      /version 9.0 is not supported/,
    ],
    ['a negative step count', 'omh/step-count/3.0', { step_count: { value: -5, unit: 'steps' } }, /plausible range/],
    [
      'an SpO2 over 100 %',
      'omh/oxygen-saturation/2.0',
      { oxygen_saturation: { value: 101, unit: '%' } },
      /plausible range/,
    ],
    [
      'a time frame that is no instant',
      'omh/body-weight/3.0',
      { body_weight: { value: 70, unit: 'kg' }, effective_time_frame: { date_time: 'yesterday' } },
      /must match pattern/,
    ],
    ['an array body', 'omh/heart-rate/2.0', [1, 2], /JSON object/],
  ])('rejects %s', async (_name, kind, body, reason) => {
    const ack = await publishForAck(kind, body);
    expect(ack.status).toBe('rejected');
    expect(ack.errors.join(' ')).toMatch(reason);
  });

  it.runIf(existsSync(OMH))(
    'stores every shouldPass example of the mapped schemas (openmhealth/schemas test data)',
    async () => {
      let n = 0;
      const rejected: string[] = [];
      for (const schema of MAPPED)
        for (const version of readdirSync(resolve(OMH, schema))) {
          const dir = resolve(OMH, schema, version, 'shouldPass');
          for (const file of readdirSync(dir)) {
            const body = JSON.parse(readFileSync(resolve(dir, file), 'utf8'));
            const ack = await publishForAck(`omh/${schema}/${version}`, body);
            if (ack.status !== 'stored') rejected.push(`${schema}/${version}/${file}: ${ack.errors.join(' ')}`);
            n++;
          }
        }
      expect(n).toBeGreaterThan(50);
      // One upstream example has a time interval that ends (2020) before it starts (2023): FHIR's Period forbids it.
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatch(
        /^body-temperature\/4.0\/valid-temperature-with-statistic.json: .*(start|end|per-1)/i,
      );
    },
  );
});

describe('FHIR payloads on …/obs', () => {
  it('stores a PHD IG Observation (subject and device are set to the publishing Device and its patient)', async () => {
    const phd = {
      resourceType: 'Observation',
      status: 'final',
      category: [
        { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] },
      ],
      code: {
        coding: [
          { system: 'urn:iso:std:iso:11073:10101', code: '149530' },
          { system: 'http://loinc.org', code: '8867-4' },
        ],
      },
      effectiveDateTime: '2018-11-13T17:59:02-05:00',
      valueQuantity: { value: 48, unit: 'bpm', system: 'http://unitsofmeasure.org', code: '/min' },
    };
    const ack = await publishForAck('obs', phd);
    expect(ack.status).toBe('stored');
    const obs = await observation(ack.observations[0]);
    expect(obs).toMatchObject({
      subject: { reference: `Patient/${device.patientId}` },
      device: { reference: `Device/${device.id}` },
    });
  });

  it('stores a transaction Bundle of Observations, and rejects one holding anything else', async () => {
    const o = (v: number) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '9279-1' }] },
      valueQuantity: { value: v, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    const ok = await publishForAck('obs', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: o(14) }, { resource: o(15) }],
    });
    expect(ok.observations).toHaveLength(2);
    const bad = await publishForAck('obs', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: o(16) }, { resource: { resourceType: 'Patient' } }],
    });
    expect(bad.status).toBe('rejected');
    expect(bad.errors.join(' ')).toMatch(/only Observations are accepted/);
    const other = await publishForAck('obs', { ...o(17), subject: { reference: 'Patient/not-mine' } });
    expect(other.errors.join(' ')).toMatch(/not the patient this device is associated with/);
  });
});

describe('patients, status and QoS 0', () => {
  it('accepts a reading naming its patient by identifier when that is the associated patient', async () => {
    const patient = (await fhir(server, 'GET', `Patient/${device.patientId}`)).body;
    const named = `${patient.identifier[0].system}|${patient.identifier[0].value}`;
    const msg = obsMessage(device.id, [heartRate(77)], { patient: named });
    await c.publish('obs', msg);
    expect((await c.ack(msg.msgId)).status).toBe('stored');
  });

  it('a status message updates the Device (status, battery, firmware) with a Provenance', async () => {
    const ack = await publishForAck('status', { msgId: 'st-1', status: 'inactive', battery: 37, firmware: '2.1.0' });
    expect(ack.status).toBe('stored');
    const dev = (await fhir(server, 'GET', `Device/${device.id}`)).body;
    expect(dev.status).toBe('inactive');
    expect(dev.property[0].valueQuantity[0]).toMatchObject({ value: 37, code: '%' });
    expect(dev.version[0]).toMatchObject({ value: '2.1.0' });
    expect(dev.patient.reference).toBe(`Patient/${device.patientId}`);
    const prov = (await fhir(server, 'GET', `Provenance?target=Device/${device.id}`)).body;
    expect(prov.entry.length).toBeGreaterThanOrEqual(1);
    const bad = await publishForAck('status', { status: 'exploded' });
    expect(bad.status).toBe('rejected');
  });

  it('stores QoS 0 readings too (lossy by design: nothing is acknowledged on the wire)', async () => {
    const msg = obsMessage(device.id, [heartRate(81)]);
    await c.publish('obs', msg, 0);
    expect((await c.ack(msg.msgId)).status).toBe('stored');
  });

  it('rejects readings of a Device that has no patient, and of a deleted Device', async () => {
    const lonely = await registerDevice(server);
    await fhir(server, 'PUT', `Device/${lonely.id}`, { resourceType: 'Device', id: lonely.id });
    const d = await connectDevice(mqttPort(server), lonely);
    const msg = obsMessage(lonely.id, [heartRate()]);
    await d.publish('obs', msg);
    expect((await d.ack(msg.msgId)).errors!.join(' ')).toMatch(/not associated with a patient/);
    await fhir(server, 'DELETE', `Device/${lonely.id}`);
    const gone = obsMessage(lonely.id, [heartRate()]);
    await d.publish('obs', gone);
    expect((await d.ack(gone.msgId)).errors!.join(' ')).toMatch(/does not exist/);
    await d.end();
  });
});
