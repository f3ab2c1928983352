import mqtt, { type MqttClient } from 'mqtt';
import { randomUUID } from 'node:crypto';
import type { Tributary } from '../../../server/app.ts';
import { fhir } from '../../../test/harness.ts';
import { DEFAULT_TOPIC_ROOT, DeviceTopics } from '../topics.ts';

/** A device registered on a test server: its Device, patient and issued secret. */
export interface TestDevice {
  id: string;
  patientId: string;
  secret: string;
}

/** Creates a Patient (with an MRN) and a Device associated with it, and issues the Device's MQTT secret. */
export async function registerDevice(server: Tributary, token?: string): Promise<TestDevice> {
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const mrn = randomUUID();
  const patient = await fhir(
    server,
    'POST',
    'Patient',
    {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:test:mrn', value: mrn }],
    },
    auth,
  );
  const id = `dev-${randomUUID().slice(0, 8)}`;
  const device = await fhir(
    server,
    'PUT',
    `Device/${id}`,
    { resourceType: 'Device', id, patient: { reference: `Patient/${patient.body.id}` } },
    auth,
  );
  if (device.status >= 300) throw new Error(`Device: ${device.status} ${JSON.stringify(device.body)}`);
  const res = await fetch(`${server.url}/admin/mqtt/devices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ device: `Device/${id}` }),
  });
  const body = (await res.json()) as { client_id: string; client_secret: string };
  if (res.status !== 201) throw new Error(`devices: ${res.status} ${JSON.stringify(body)}`);
  return { id: body.client_id, patientId: patient.body.id, secret: body.client_secret };
}

/** The MQTT port of a test server's embedded broker. */
export function mqttPort(server: Tributary): number {
  const door = server.doors().find((d) => d.name === 'mqtt');
  if (door?.state !== 'up' || !door.port) throw new Error(`mqtt door is ${door?.state}: ${door?.reason}`);
  return door.port;
}

/** An ack a device read on its `…/ack` topic. */
export interface Ack {
  msgId: string;
  status: 'stored' | 'rejected';
  observations?: string[];
  errors?: string[];
}

/** A connected device client that collects its acks. */
export interface DeviceClient {
  client: MqttClient;
  acks: Ack[];
  /** Waits for the ack of a message id. */
  ack(msgId: string, timeoutMs?: number): Promise<Ack>;
  publish(kind: string, body: unknown, qos?: 0 | 1): Promise<void>;
  end(): Promise<void>;
}

/** Connects as a device (client id = username = device id) and subscribes to its acks. */
export async function connectDevice(
  broker: number | string,
  device: { id: string; secret?: string },
  options: mqtt.IClientOptions = {},
  root = DEFAULT_TOPIC_ROOT,
): Promise<DeviceClient> {
  const topics = new DeviceTopics(root);
  const url = typeof broker === 'number' ? `mqtt://127.0.0.1:${broker}` : broker;
  const client = await mqtt.connectAsync(url, {
    clientId: device.id,
    username: device.id,
    password: device.secret,
    reconnectPeriod: 0,
    protocolVersion: 4,
    ...options,
  });
  const acks: Ack[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (_topic, payload) => {
    acks.push(JSON.parse(payload.toString()) as Ack);
    for (const w of waiters.splice(0)) w();
  });
  await client.subscribeAsync(topics.ack(device.id), { qos: 1 });
  return {
    client,
    acks,
    async ack(msgId, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = acks.find((a) => a.msgId === msgId);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no ack for ${msgId}; got ${JSON.stringify(acks)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
    async publish(kind, body, qos = 1) {
      const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      await client.publishAsync(`${root}/${device.id}/${kind}`, payload, { qos });
    },
    end: () => client.endAsync(),
  };
}

/** A `tributary-device-obs/1` message with one reading per entry of `observations`. */
export function obsMessage(deviceId: string, observations: object[], extra: object = {}) {
  return {
    schema: 'tributary-device-obs/1',
    msgId: randomUUID(),
    deviceId,
    sentAt: '2026-12-07T10:00:00Z',
    observations: observations.map((o, seq) => ({ seq, ...o })),
    ...extra,
  };
}

export const heartRate = (value: unknown = 72, unit = '/min') => ({
  code: { mdc: '149546' },
  value,
  unit,
  effective: '2026-12-07T09:59:00Z',
});

export const bloodPressure = (systolic = 120, diastolic = 80) => ({
  code: { mdc: '150020', loinc: '85354-9' },
  components: [
    { code: { mdc: '150021' }, value: systolic, unit: 'mmHg' },
    { code: { loinc: '8462-4' }, value: diastolic, unit: 'mm[Hg]' },
  ],
  effective: '2026-12-07T09:58:00Z',
});
