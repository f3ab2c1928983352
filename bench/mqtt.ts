/**
 * Devices over MQTT, one command: `DATABASE_URL=<admin url> npx tsx bench/mqtt.ts [--devices 200] [--readings 20000]
 * [--batch 10] [--inflight 4]`.
 *
 * Tributary runs as its own process (node options of `npm start`, AUTH off, LOG_LEVEL warn) on a fresh database with
 * its embedded broker on a free port. `--devices` devices (each a Patient, a Device and an issued secret) connect with
 * mqtt.js and publish `tributary-device-obs/1` messages at QoS 1, each keeping `--inflight` unacknowledged at once:
 * 1. one reading per message: readings/s durable (PUBACKed), PUBACK latency p50/p99, then readings/s stored as
 *    Observations (until the inbox has nothing left unmapped), and publish → `…/ack` "stored" latency p50/p99 (the ack
 *    is sent once the Observation is committed, so it is searchable then);
 * 2. `--batch` readings per message: the same figures, counted in readings.
 * Server RSS is sampled every 200 ms (peak reported). Traffic goes to 127.0.0.1 only; the database is dropped after.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { startArgs } from '../test/server-process.ts';
import { benchDatabase } from './bench-db.ts';
import { freePort, rssMb } from './local-process.ts';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '200' },
    readings: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '10' },
    inflight: { type: 'string', default: '4' },
  },
});
const DEVICES = Number(args.devices);
const READINGS = Number(args.readings);
const BATCH = Number(args.batch);
const INFLIGHT = Number(args.inflight);
const ROOT = 'tributary/v1/devices';
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
};

interface BenchDevice {
  id: string;
  client: MqttClient;
  /** msgId → publish time, until its ack. */
  sent: Map<string, number>;
}

/** Creates a patient, its Device and the Device's secret, and connects it. */
async function device(base: string, port: number, i: number, ackLatencies: number[]): Promise<BenchDevice> {
  const json = (method: string, path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
      return r.json() as Promise<{ id: string; client_secret: string }>;
    });
  const patient = await json('POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: `Bench${i}` }] });
  const id = `bench-${i}-${randomUUID().slice(0, 6)}`;
  await json('PUT', `/fhir/Device/${id}`, {
    resourceType: 'Device',
    id,
    patient: { reference: `Patient/${patient.id}` },
  });
  const { client_secret } = await json('POST', '/admin/mqtt/devices', { device: `Device/${id}` });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: id,
    username: id,
    password: client_secret,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const sent = new Map<string, number>();
  client.on('message', (_t, payload) => {
    const ack = JSON.parse(payload.toString()) as { msgId: string; status: string };
    const at = sent.get(ack.msgId);
    if (at !== undefined && ack.status === 'stored') ackLatencies.push(performance.now() - at);
    sent.delete(ack.msgId);
  });
  await client.subscribeAsync(`${ROOT}/${id}/ack`, { qos: 0 });
  return { id, client, sent };
}

function message(deviceId: string, readings: number) {
  return {
    msgId: randomUUID(),
    deviceId,
    sentAt: new Date().toISOString(),
    observations: Array.from({ length: readings }, (_, seq) => ({
      seq,
      code: { mdc: '149546' },
      value: 50 + ((seq * 7) % 80),
      unit: '/min',
    })),
  };
}

/** Each device publishes `messages` messages of `perMessage` readings, `INFLIGHT` at a time. */
async function phase(devices: BenchDevice[], messages: number, perMessage: number) {
  const pubacks: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    devices.flatMap((d) =>
      Array.from({ length: INFLIGHT }, async () => {
        while (next < messages) {
          next++;
          const msg = message(d.id, perMessage);
          const at = performance.now();
          d.sent.set(msg.msgId, at);
          await d.client.publishAsync(`${ROOT}/${d.id}/obs`, JSON.stringify(msg), { qos: 1 });
          pubacks.push(performance.now() - at);
        }
      }),
    ),
  );
  return { pubacks, ackedMs: performance.now() - started, started };
}

async function drained(pool: pg.Pool): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inbox_message WHERE state IN ('received', 'failed')`,
    );
    if (rows[0].n === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  const db = await benchDatabase(adminUrl);
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, startArgs(), {
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      PORT: String(httpPort),
      HOST: '127.0.0.1',
      MQTT_PORT: String(mqttPort),
      MLLP: 'off',
      AUTH: 'off',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${httpPort}`;
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(child.pid!))), 200);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const devices: BenchDevice[] = [];
  try {
    for (let i = 0; ; i++) {
      if (
        await fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 600) throw new Error('the server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const ackLatencies: number[] = [];
    for (let i = 0; i < DEVICES; i += 20)
      devices.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(20, DEVICES - i) }, (_, j) => device(base, mqttPort, i + j, ackLatencies)),
        )),
      );
    const rows: string[] = [];
    for (const [label, perMessage] of [
      ['1 reading per message', 1],
      [`${BATCH} readings per message`, BATCH],
    ] as const) {
      ackLatencies.length = 0;
      const messages = Math.ceil(READINGS / perMessage);
      const { pubacks, ackedMs, started } = await phase(devices, messages, perMessage);
      await drained(pool);
      const storedMs = performance.now() - started;
      // Acks of the last messages may still be on their way.
      for (let i = 0; i < 100 && ackLatencies.length < messages; i++) await new Promise((r) => setTimeout(r, 50));
      const readings = messages * perMessage;
      rows.push(
        `| ${label} | ${(readings / (ackedMs / 1000)).toFixed(0)} | ${(readings / (storedMs / 1000)).toFixed(0)} | ${pct(pubacks, 0.5).toFixed(1)} / ${pct(pubacks, 0.99).toFixed(1)} | ${pct(ackLatencies, 0.5).toFixed(1)} / ${pct(ackLatencies, 0.99).toFixed(1)} | ${ackLatencies.length}/${messages} |`,
      );
    }
    const { rows: dead } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inbox_message WHERE state = 'dead'`,
    );
    const obs = ((await (await fetch(`${base}/fhir/Observation?_summary=count`)).json()) as { total: number }).total;
    console.log(
      `\nMQTT benchmark: ${READINGS} readings per phase from ${DEVICES} devices (embedded broker, QoS 1, ${INFLIGHT} in flight per device), load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    console.log(
      '| phase | durable (PUBACKed) readings/s | stored as Observations readings/s | PUBACK p50 / p99 ms | publish → ack "stored" p50 / p99 ms | acks seen |',
    );
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) console.log(r);
    console.log(
      `\nObservations stored: ${obs} (expected ${2 * READINGS}); dead letters: ${dead[0].n}; server RSS peak: ${peakRss.toFixed(0)} MB (target ≤ 350 MB; target ≥ 5,000 durable readings/s)`,
    );
  } finally {
    clearInterval(sampler);
    await Promise.all(devices.map((d) => d.client.endAsync(true)));
    await pool.end();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await db.drop();
  }
}

await main();
