/**
 * Triage benchmark (issue 18): `npx tsx bench/triage.ts [--events 100] [--oru 50] [--parallel 1]`.
 *
 * How long a deteriorating reading takes to become an alert a ward sees: a server with the `news2` bot (AUTH=off, a
 * fresh database), a websocket subscription on alert Communications, and patients whose earlier vitals (20 minutes
 * before) score low. Then, per patient, one reading:
 * - REST: a transaction with SpO2 88 % and respiration rate 26 (POST /fhir over HTTP), which takes the patient to
 *   NEWS2 7 (high);
 * - HL7v2: an ORU^R01 over MLLP with all seven parameters of a new patient (NEWS2 7).
 * Latency runs from just before the write is sent to the arrival of the alert Communication on the websocket: the
 * write, the outbox, the bot's run in its worker thread (seven searches and one transaction), and the websocket
 * notification. `--parallel` readings are in flight at once. Prints p50/p90/p99/max per door, with `uptime`.
 * Uses DATABASE_URL (an admin URL; the database is dropped after) or the local Postgres.
 * MQTT (the third door of issue 18) is not measured here: its door is built separately.
 */
import { execSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startTributary, type Tributary } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { NORMAL_VITALS, vitalObservations, vitalsTransaction } from '../bots/triage/news2-vitals.ts';
import { RawMllpClient } from '../integrations/hl7v2/tests/helpers.ts';
import { openSocket } from '../test/ws-client.ts';
import { benchDatabase } from './bench-db.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '100' },
    oru: { type: 'string', default: '50' },
    parallel: { type: 'string', default: '1' },
  },
});
const EVENTS = Number(args.events);
const ORUS = Number(args.oru);
const PARALLEL = Math.max(1, Number(args.parallel));
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CONTENT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content';
const ALERT_TIMEOUT_MS = 10_000;

type Json = Record<string, any>;

async function api(server: Tributary, method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${server.fhirBase}/${path}`, {
    method,
    headers: { 'content-type': 'application/fhir+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Json;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

/** Alerts as they arrive on the websocket: patient reference → arrival time (ms). */
async function alertSocket(server: Tributary): Promise<{ arrivals: Map<string, number>; close(): Promise<void> }> {
  const sub = await api(server, 'POST', 'Subscription', {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'NEWS2 alerts',
    criteria: 'Communication?category=alert',
    channel: {
      type: 'websocket',
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: CONTENT, valueCode: 'full-resource' }] },
    },
  });
  const binding = await api(server, 'POST', `Subscription/${sub.id}/$get-ws-binding-token`);
  const p = Object.fromEntries(binding.parameter.map((x: Json) => [x.name, x.valueString ?? x.valueUrl]));
  const socket = await openSocket(p['websocket-url']);
  const arrivals = new Map<string, number>();
  socket.ws.on('message', (data) => {
    const at = performance.now();
    const resource = JSON.parse(String(data)).entry?.[1]?.resource;
    if (resource?.resourceType === 'Communication') arrivals.set(resource.subject.reference, at);
  });
  socket.ws.send(`bind-with-token ${p.token}`);
  await socket.waitFor(1);
  return { arrivals, close: () => socket.close() };
}

async function waitFor(arrivals: Map<string, number>, patient: string): Promise<number | undefined> {
  const deadline = performance.now() + ALERT_TIMEOUT_MS;
  while (!arrivals.has(patient) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  return arrivals.get(patient);
}

/** Runs `count` jobs `PARALLEL` at a time; each answers a latency or undefined (no alert in time). */
async function lane(count: number, job: (i: number) => Promise<number | undefined>) {
  const latencies: number[] = [];
  let missed = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < count) {
        const ms = await job(next++);
        if (ms === undefined) missed++;
        else latencies.push(ms);
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), missed };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

function vitalsOru(controlId: string, mrn: string): string {
  const ts = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14) + '+0000';
  const nm = (i: number, code: string, value: number, unit: string) =>
    `OBX|${i}|NM|${code}^^LN||${value}|${unit}^${unit}^UCUM|||||F|||${ts}`;
  return [
    `MSH|^~\\&|MONITOR|WARD 7|TRIBUTARY|TRIB|${ts}||ORU^R01^ORU_R01|${controlId}|P|2.5.1`,
    `PID|1||${mrn}^^^GHH^MR||BENCH^PATIENT||19800101|M`,
    `OBR|1|${controlId}^MONITOR||85353-1^Vital signs panel^LN|||${ts}||||||||||||||||||F`,
    nm(1, '9279-1', 26, '/min'),
    nm(2, '59408-5', 88, '%'),
    nm(3, '3151-8', 0, 'L/min'),
    nm(4, '8480-6', 120, 'mm[Hg]'),
    nm(5, '8867-4', 95, '/min'),
    `OBX|6|CWE|67775-7^^LN||248234008^Alert^SCT||||||F|||${ts}`,
    nm(7, '8310-5', 37.2, 'Cel'),
  ].join('\r');
}

async function main(): Promise<void> {
  const db = await benchDatabase(adminUrl);
  const config = {
    ...loadConfig({ AUTH: 'off', BOTS: 'news2', MLLP_PORT: '0', MLLP_HOST: '127.0.0.1' }),
    port: 0,
    host: '127.0.0.1',
    databaseUrl: db.url,
  };
  const server = await startTributary(config, { logger: pino({ level: 'silent' }) });
  try {
    const socket = await alertSocket(server);
    // Patients with low earlier vitals (their runs finish before the measured readings: the last one is awaited).
    const patients: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const p = await api(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: `Bench${i}` }] });
      patients.push(`Patient/${p.id}`);
      const { spo2: _s, rr: _r, ...rest } = NORMAL_VITALS;
      await api(server, 'POST', '', vitalsTransaction(vitalObservations(patients[i], { ...rest, pulse: 95 }, 20)));
    }
    await settle(server, patients.at(-1)!);

    const rest = await lane(EVENTS, async (i) => {
      const started = performance.now();
      await api(server, 'POST', '', vitalsTransaction(vitalObservations(patients[i], { spo2: 88, rr: 26 })));
      const at = await waitFor(socket.arrivals, patients[i]);
      return at === undefined ? undefined : at - started;
    });

    const port = server.doors().find((d) => d.name === 'hl7v2')?.port as number;
    const mllp = await RawMllpClient.connect(port);
    // The patient an ORU creates is known only after mapping: a reading waits for the next alert (so about
    // `--parallel` are in flight), and latencies are matched to patients by MRN afterwards.
    const sentAt = new Map<string, number>();
    await lane(ORUS, async (i) => {
      const before = socket.arrivals.size;
      const acks = mllp.acks.length;
      sentAt.set(`MRN-BENCH-${i}`, performance.now());
      mllp.send(vitalsOru(`BENCH-${i}`, `MRN-BENCH-${i}`));
      await mllp.waitFor(acks + 1);
      const deadline = performance.now() + ALERT_TIMEOUT_MS;
      while (socket.arrivals.size === before && performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 1));
      return 0;
    });
    const oruLatencies: number[] = [];
    for (const [mrn, started] of sentAt) {
      const found = await api(server, 'GET', `Patient?identifier=${mrn}&_elements=id`);
      const at = socket.arrivals.get(`Patient/${found.entry?.[0]?.resource?.id}`);
      if (at !== undefined) oruLatencies.push(at - started);
    }
    const oru = { latencies: oruLatencies.sort((a, b) => a - b), missed: ORUS - oruLatencies.length };
    mllp.close();
    await socket.close();

    const runs = await api(server, 'GET', 'AuditEvent?agent=Device/bot-news2&_count=1000&_elements=entity');
    const durations = (runs.entry ?? [])
      .map((e: Json) =>
        Number(e.resource.entity?.[0]?.detail?.find((d: Json) => d.type === 'duration-ms')?.valueString),
      )
      .filter((n: number) => Number.isFinite(n))
      .sort((a: number, b: number) => a - b);
    const load = execSync('uptime').toString().trim();
    console.log(`\nNEWS2 write → alert on a websocket, ${PARALLEL} in flight (AUTH=off); ${load}`);
    console.log('| door | readings | alerts | p50 ms | p90 ms | p99 ms | max ms |');
    console.log('|---|---|---|---|---|---|---|');
    for (const [name, r, n] of [
      ['REST (POST /fhir transaction)', rest, EVENTS],
      ['HL7v2 ORU^R01 over MLLP', oru, ORUS],
    ] as const) {
      const l = r.latencies;
      console.log(
        `| ${name} | ${n} | ${l.length} | ${pct(l, 50)?.toFixed(0)} | ${pct(l, 90)?.toFixed(0)} | ${pct(l, 99)?.toFixed(0)} | ${l.at(-1)?.toFixed(0)} |`,
      );
    }
    console.log(
      `Bot runs (${durations.length} audited, seeding included, in the worker thread): p50 ${pct(durations, 50)} ms, p99 ${pct(durations, 99)} ms.`,
    );
    console.log('Goal: p99 ≤ 200 ms (issue 18).');
  } finally {
    await server.close();
    await db.drop();
  }
}

/** Waits until the patient's earlier vitals were assessed (a RiskAssessment exists). */
async function settle(server: Tributary, patient: string): Promise<void> {
  await until(async () => (await api(server, 'GET', `RiskAssessment?subject=${patient}`)).entry?.length > 0);
}

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
