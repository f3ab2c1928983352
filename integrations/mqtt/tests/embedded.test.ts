import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../../server/app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { DEFAULT_TOPIC_ROOT as TOPIC_ROOT } from '../topics.ts';
import {
  bloodPressure,
  connectDevice,
  heartRate,
  mqttPort,
  obsMessage,
  registerDevice,
  type TestDevice,
} from './helpers.ts';

let server: Tributary;
let port: number;
let device: TestDevice;

beforeAll(async () => {
  server = await startTestServer({}, { MQTT_MAX_BYTES: String(64 * 1024) });
  port = mqttPort(server);
  device = await registerDevice(server);
});
afterAll(async () => {
  await server?.close();
});

/** The dead-lettered inbox rows of the door. */
async function deadLetters(): Promise<any[]> {
  const res = await fetch(`${server.url}/admin/inbox?door=mqtt&state=dead&limit=100`);
  return ((await res.json()) as { messages: any[] }).messages;
}

describe('readings over the embedded broker (mqtt.js, QoS 1)', () => {
  it('stores a blood pressure panel and a heart rate as PHD-shaped Observations with a Provenance naming the Device', async () => {
    const c = await connectDevice(port, device);
    const msg = obsMessage(device.id, [bloodPressure(131, 85), heartRate(64, 'bpm')]);
    await c.publish('obs', msg);
    const ack = await c.ack(msg.msgId);
    expect(ack).toMatchObject({ msgId: msg.msgId, status: 'stored' });
    expect(ack.observations).toHaveLength(2);
    const bp = (await fhir(server, 'GET', `Observation/${ack.observations![0]}`)).body;
    expect(bp).toMatchObject({
      status: 'final',
      subject: { reference: `Patient/${device.patientId}` },
      device: { reference: `Device/${device.id}` },
      effectiveDateTime: '2026-12-07T09:58:00Z',
      category: [{ coding: [{ code: 'vital-signs' }] }],
      identifier: [{ value: `${device.id}-${msg.msgId}-0` }],
    });
    expect(bp.code.coding.map((c: any) => c.code)).toEqual(['150020', '85354-9']);
    expect(bp.component.map((c: any) => [c.code.coding[1].code, c.valueQuantity.value, c.valueQuantity.code])).toEqual([
      ['8480-6', 131, 'mm[Hg]'],
      ['8462-4', 85, 'mm[Hg]'],
    ]);
    const hr = (await fhir(server, 'GET', `Observation/${ack.observations![1]}`)).body;
    expect(hr.valueQuantity).toEqual({ value: 64, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' });
    const prov = (await fhir(server, 'GET', `Provenance?target=Observation/${ack.observations![1]}`)).body;
    expect(prov.entry).toHaveLength(1);
    expect(prov.entry[0].resource.agent[0].who.reference).toBe(`Device/${device.id}`);
    await c.end();
  });

  it('stores a resent message (same msgId, QoS 1) once and acknowledges it again with the same Observations', async () => {
    const c = await connectDevice(port, device);
    const msg = obsMessage(device.id, [heartRate(70)]);
    await c.publish('obs', msg);
    const first = await c.ack(msg.msgId);
    c.acks.length = 0;
    await c.publish('obs', msg);
    await c.client.publishAsync(`${TOPIC_ROOT}/${device.id}/obs`, JSON.stringify(msg), { qos: 1, dup: true });
    const again = await c.ack(msg.msgId);
    expect(again.observations).toEqual(first.observations);
    const found = (
      await fhir(server, 'GET', `Observation?identifier=${encodeURIComponent(`${device.id}-${msg.msgId}-0`)}`)
    ).body;
    expect(found.entry).toHaveLength(1);
    await c.end();
  });

  it('the PUBACK comes after the message is in the inbox', async () => {
    const c = await connectDevice(port, device);
    const msg = obsMessage(device.id, [heartRate(71)]);
    await c.publish('obs', msg);
    // publishAsync resolved: the PUBACK arrived; the row is there already.
    const res = await fetch(`${server.url}/admin/inbox?door=mqtt&limit=20`);
    const rows = ((await res.json()) as { messages: any[] }).messages;
    expect(rows.some((r) => r.dedupKey === msg.msgId)).toBe(true);
    await c.end();
  });
});

describe('MQTT over WebSocket at /mqtt on the HTTP port', () => {
  it('stores a reading and answers on …/ack, with the same device authentication', async () => {
    const url = `${server.url.replace(/^http/, 'ws')}/mqtt`;
    const c = await connectDevice(url, device);
    const msg = obsMessage(device.id, [heartRate(59)]);
    await c.publish('obs', msg);
    expect((await c.ack(msg.msgId)).status).toBe('stored');
    await c.end();
    const refused = await mqtt
      .connectAsync(url, { clientId: device.id, username: device.id, password: 'wrong', reconnectPeriod: 0 })
      .then(
        (x) => (x.end(true), 0),
        (err: { code?: number }) => err.code,
      );
    expect(refused).toBe(4);
  });
});

describe('identity and topic rules', () => {
  it('refuses wrong passwords, a client id other than the username, and rate-limits repeated failures', async () => {
    const other = await registerDevice(server);
    const refused = (opts: mqtt.IClientOptions) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, protocolVersion: 4, ...opts }).then(
        (c) => (c.end(true), 'connected'),
        (err: Error & { code?: number }) => err.code ?? err.message,
      );
    expect(await refused({ clientId: other.id, username: other.id, password: 'wrong' })).toBe(4);
    expect(await refused({ clientId: 'someone-else', username: other.id, password: other.secret })).toBe(4);
    expect(await refused({ clientId: other.id, username: other.id })).toBe(4);
    for (let i = 0; i < 5; i++) await refused({ clientId: other.id, username: other.id, password: `wrong-${i}` });
    // Limited now: even the right secret is refused for a while (return code 5, not authorized).
    expect(await refused({ clientId: other.id, username: other.id, password: other.secret })).toBe(5);
    // Other devices are unaffected.
    const c = await connectDevice(port, device);
    await c.end();
  });

  it("a device publishing to another device's topic is acknowledged, dead-lettered and not delivered; its subscriptions outside its own topics are refused", async () => {
    const victim = await registerDevice(server);
    const v = await connectDevice(port, victim);
    const c = await connectDevice(port, device);
    for (const filter of ['#', `${TOPIC_ROOT}/+/ack`, `${TOPIC_ROOT}/${victim.id}/ack`, '$SYS/#'])
      await expect(c.client.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
    const msg = obsMessage(victim.id, [heartRate(99)]);
    await c.client.publishAsync(`${TOPIC_ROOT}/${victim.id}/obs`, JSON.stringify(msg), { qos: 1 });
    await c.client.publishAsync(
      `${TOPIC_ROOT}/${victim.id}/ack`,
      JSON.stringify({ msgId: 'spoof', status: 'stored' }),
      {
        qos: 1,
      },
    );
    const ack = await c.ack(msg.msgId);
    expect(ack.status).toBe('rejected');
    expect(ack.errors![0]).toContain(`may not publish to ${TOPIC_ROOT}/${victim.id}/obs`);
    await new Promise((r) => setTimeout(r, 300));
    expect(v.acks).toEqual([]);
    const stored = (await fhir(server, 'GET', `Observation?device=Device/${victim.id}`)).body;
    expect(stored.entry ?? []).toHaveLength(0);
    expect((await deadLetters()).some((m) => m.endpoint === `refused/${device.id}`)).toBe(true);
    await c.end();
    await v.end();
  });
});

describe('bad input is dead-lettered with a reason and answered on …/ack, never stored, never a crash', () => {
  const cases: [string, (id: string) => { msgId?: string; payload: string | Buffer }, RegExp][] = [
    ['malformed JSON', () => ({ payload: '{"msgId": "x", ' }), /not JSON/],
    [
      'an escaped NUL',
      (id) => ({ payload: JSON.stringify(obsMessage(id, [heartRate()])).replace('"/min"', '"/m\\u0000in"') }),
      /NUL/,
    ],
    [
      'a raw NUL byte',
      (id) => ({ payload: JSON.stringify(obsMessage(id, [heartRate()])).replace('"/min"', '"/m\u0000in"') }),
      /not JSON|NUL/,
    ],
    ['invalid UTF-8', () => ({ payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }), /not JSON|UTF-8|decode/i],
    ['a value out of range', (id) => json(obsMessage(id, [heartRate(900)])), /outside the plausible range/],
    ['a non-numeric value', (id) => json(obsMessage(id, [heartRate('NaN')])), /must be number/],
    [
      'a unit that does not fit the code',
      (id) => json(obsMessage(id, [heartRate(60, 'kg')])),
      /does not fit Heart rate/,
    ],
    [
      'an unknown code',
      (id) => json(obsMessage(id, [{ code: { mdc: '999999' }, value: 1, unit: '/min' }])),
      /unknown MDC code/,
    ],
    [
      'MDC and LOINC codes that disagree',
      (id) => json(obsMessage(id, [{ code: { mdc: '149546', loinc: '8310-5' }, value: 1, unit: '/min' }])),
      /name different measurements/,
    ],
    [
      'another patient',
      (id) => json(obsMessage(id, [heartRate()], { patient: 'Patient/someone-else' })),
      /names patient/,
    ],
    ['another deviceId in the body', (id) => json(obsMessage(`${id}x`, [heartRate()])), /not the publishing device/],
    [
      'an impossible date',
      (id) => json(obsMessage(id, [{ ...heartRate(), effective: '2026-02-31T10:00:00Z' }])),
      /not a valid instant/,
    ],
    [
      'a FHIR Patient instead of an Observation',
      () => ({ payload: JSON.stringify({ resourceType: 'Patient', msgId: 'p' }) }),
      /Patient is not accepted/,
    ],
  ];
  it.each(cases)('%s', async (_name, make, reason) => {
    const c = await connectDevice(port, device);
    const { payload, msgId } = make(device.id);
    const before = (await fhir(server, 'GET', `Observation?device=Device/${device.id}&_summary=count`)).body.total;
    await c.client.publishAsync(`${TOPIC_ROOT}/${device.id}/obs`, payload, { qos: 1 });
    const ack = msgId ? await c.ack(msgId) : await waitFor(() => c.acks.find((a) => a.status === 'rejected'));
    expect(ack.status).toBe('rejected');
    expect(ack.errors!.join(' ')).toMatch(reason);
    const after = (await fhir(server, 'GET', `Observation?device=Device/${device.id}&_summary=count`)).body.total;
    expect(after).toBe(before);
    // The connection is still up and serves the next reading.
    const ok = obsMessage(device.id, [heartRate(66)]);
    await c.publish('obs', ok);
    expect((await c.ack(ok.msgId)).status).toBe('stored');
    await c.end();
  });

  it('a payload over MQTT_MAX_BYTES is dead-lettered; a packet far over it closes the connection before it is buffered', async () => {
    const c = await connectDevice(port, device);
    const big = JSON.stringify(obsMessage(device.id, [heartRate()], { padding: 'x'.repeat(70 * 1024) }));
    await c.client.publishAsync(`${TOPIC_ROOT}/${device.id}/obs`, big, { qos: 1 });
    const ack = await waitFor(() => c.acks.find((a) => a.status === 'rejected'));
    expect(ack.errors![0]).toMatch(/at most 65536 are accepted/);
    const closed = new Promise<void>((r) => c.client.once('close', () => r()));
    c.client.publish(`${TOPIC_ROOT}/${device.id}/obs`, Buffer.alloc(2 * 1024 * 1024, 0x20), { qos: 1 });
    await closed;
    c.client.end(true);
    // The broker is fine: a new connection stores readings.
    const d = await connectDevice(port, device);
    const ok = obsMessage(device.id, [heartRate(67)]);
    await d.publish('obs', ok);
    expect((await d.ack(ok.msgId)).status).toBe('stored');
    await d.end();
  });
});

function json(body: { msgId: string }) {
  return { msgId: body.msgId, payload: JSON.stringify(body) };
}

async function waitFor<T>(find: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found) return found;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
