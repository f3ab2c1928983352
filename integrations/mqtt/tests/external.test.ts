import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../../server/app.ts';
import { createTestDatabase, dropTestDatabase, fhir, startTestServer } from '../../../test/harness.ts';
import { bloodPressure, connectDevice, heartRate, obsMessage, registerDevice, type TestDevice } from './helpers.ts';

const run = promisify(execFile);

/** Whether a broker answers on a TCP port (npm test on a machine without Mosquitto skips these tests). */
async function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port || 1883), hostname, () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
const clients = await run('mosquitto_pub', ['--help']).then(
  () => true,
  (err: { code?: unknown }) => err.code !== 'ENOENT',
);
/** The machine's Mosquitto (CI starts it); each test run uses its own topic root, client ids and share group. */
const BROKER = process.env.MQTT_TEST_BROKER ?? 'mqtt://127.0.0.1:1883';
const root = `tributary-test-${randomUUID().slice(0, 8)}/v1/devices`;
const group = `g${randomUUID().slice(0, 8)}`;
const reachable = await answers(BROKER);

let databaseUrl: string;
let server: Tributary;
let device: TestDevice;

const env = (node: string) => ({
  MQTT_URL: BROKER,
  MQTT_TOPIC_ROOT: root,
  MQTT_SHARE_GROUP: group,
  MQTT_CLIENT_ID: `${group}-${node}`,
});

beforeAll(async () => {
  if (!reachable) return;
  databaseUrl = await createTestDatabase();
  server = await startTestServer({ databaseUrl }, env('a'));
  device = await registerDevice(server);
});
afterAll(async () => {
  await server?.close();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

describe.runIf(reachable)('external broker mode (the machine’s Mosquitto)', () => {
  it('is up as a client of the broker in /healthz', () => {
    expect(server.doors().find((d) => d.name === 'mqtt')).toMatchObject({ state: 'up' });
  });

  it('consumes a reading a device publishes to Mosquitto (mqtt.js) and answers on …/ack through Mosquitto', async () => {
    // The broker here is anonymous: devices authenticate at the external broker (README: ACL templates).
    const c = await connectDevice(BROKER, { id: device.id }, { username: undefined, password: undefined }, root);
    const msg = obsMessage(device.id, [bloodPressure(142, 91)]);
    await c.publish('obs', msg);
    const ack = await c.ack(msg.msgId);
    expect(ack.status).toBe('stored');
    const obs = (await fhir(server, 'GET', `Observation/${ack.observations![0]}`)).body;
    expect(obs.component[0].valueQuantity.value).toBe(142);
    expect(obs.subject.reference).toBe(`Patient/${device.patientId}`);
    await c.end();
  });

  it.runIf(clients)('mosquitto_pub publishes a reading (QoS 1) and mosquitto_sub reads its ack', async () => {
    const msg = obsMessage(device.id, [heartRate(58)]);
    const sub = run('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      '1883',
      '-t',
      `${root}/${device.id}/ack`,
      '-C',
      '1',
      '-W',
      '15',
      '-q',
      '1',
    ]);
    await new Promise((r) => setTimeout(r, 300)); // mosquitto_sub is subscribed
    await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      '1883',
      '-q',
      '1',
      '-t',
      `${root}/${device.id}/obs`,
      '-m',
      JSON.stringify(msg),
    ]);
    const ack = JSON.parse((await sub).stdout);
    expect(ack).toMatchObject({ msgId: msg.msgId, status: 'stored' });
    const found = (await fhir(server, 'GET', `Observation?device=Device/${device.id}&code=8867-4&value-quantity=58`))
      .body;
    expect(found.entry).toHaveLength(1);
  });

  it('keeps QoS 1 readings published while Tributary is down (persistent session) and stores each once after it is back', async () => {
    await server.close();
    const c = await connectDevice(
      BROKER,
      { id: `${group}-offline` },
      { username: undefined, password: undefined },
      root,
    );
    const msgs = Array.from({ length: 20 }, (_, i) => obsMessage(device.id, [heartRate(60 + i)]));
    for (const m of msgs) await c.client.publishAsync(`${root}/${device.id}/obs`, JSON.stringify(m), { qos: 1 });
    // Resent once more: the inbox recognises each msgId.
    for (const m of msgs.slice(0, 5))
      await c.client.publishAsync(`${root}/${device.id}/obs`, JSON.stringify(m), { qos: 1 });
    await c.end();
    server = await startTestServer({ databaseUrl }, env('a'));
    for (let i = 0; i < 100; i++) {
      const total = (await fhir(server, 'GET', `Observation?device=Device/${device.id}&code=8867-4&_summary=count`))
        .body.total;
      if (total >= 21) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const m of msgs) {
      const found = (
        await fhir(
          server,
          'GET',
          `Observation?identifier=${encodeURIComponent(`urn:tributary:mqtt:reading|${device.id}-${m.msgId}-0`)}`,
        )
      ).body;
      expect(found.entry, m.msgId).toHaveLength(1);
    }
  });

  it('two nodes in one share group split the readings and store each exactly once', async () => {
    const second = await startTestServer({ databaseUrl }, env('b'));
    try {
      const c = await connectDevice(
        BROKER,
        { id: `${group}-split` },
        { username: undefined, password: undefined },
        root,
      );
      const msgs = Array.from({ length: 40 }, (_, i) => obsMessage(device.id, [heartRate(100 + i)]));
      for (const m of msgs) await c.client.publishAsync(`${root}/${device.id}/obs`, JSON.stringify(m), { qos: 1 });
      await c.end();
      const count = async () =>
        (await fhir(server, 'GET', `Observation?device=Device/${device.id}&value-quantity=ge100&_summary=count`)).body
          .total;
      for (let i = 0; i < 100 && (await count()) < 40; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await count()).toBe(40);
      const consumedBy = async (node: Tributary) =>
        (await (await fetch(`${node.url}/metrics`)).text()).match(
          /tributary_mqtt_receive_seconds_count\{outcome="stored"\} (\d+)/,
        )?.[1] ?? '0';
      // Each node took a share (Mosquitto deals shared subscriptions out round-robin).
      expect(Number(await consumedBy(second))).toBeGreaterThan(0);
    } finally {
      await second.close();
    }
  });
});
