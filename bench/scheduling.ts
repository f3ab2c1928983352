/**
 * `npx tsx bench/scheduling.ts [practitioners=200] [weeks=8] [bookings=1000] [concurrency=16]` (DATABASE_URL: an
 * admin URL; a fresh database is created and dropped): scheduling's speed on one server, AUTH off.
 * Loads `practitioners` Schedules with 30-minute Slots 09:00–17:00Z on weekdays for `weeks` weeks, then prints one
 * table: `$find` over a one-week window of a random practitioner (p50/p99 over 200 serial calls), `$book` of distinct
 * free Slots and plain Appointment creates (both with the no-double-booking check) at `concurrency` (requests/s, p50,
 * p99), and 100 concurrent `$book` of one Slot (successes must be 1). Reports the load average before and after.
 */
import type { Bundle, Slot } from '@medplum/fhirtypes';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startTributary } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { benchDatabase } from './bench-db.ts';

const [practitioners, weeks, bookings, concurrency] = [200, 8, 1000, 16].map((d, i) =>
  Number(process.argv[2 + i] ?? d),
);
const DAY = 24 * 3600_000;
const FIRST_MONDAY = Date.parse('2031-03-03T00:00:00Z');

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('set DATABASE_URL to an admin URL of a Postgres');
const db = await benchDatabase(adminUrl);
const server = await startTributary({
  ...loadConfig({ AUTH: 'off', MLLP_PORT: '0', MQTT_PORT: '0', DB_POOL_SIZE: '10' }),
  port: 0,
  host: '127.0.0.1',
  logLevel: 'silent',
  databaseUrl: db.url,
});
const base = server.fhirBase;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/${path}`, {
    method,
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const slotId = (p: number, day: number, i: number) => `s-${p}-${day}-${i}`;
const slotStart = (day: number, i: number) => FIRST_MONDAY + day * DAY + 9 * 3600_000 + i * 1800_000;

/** Loads the practitioners, Schedules and Slots in transaction Bundles of one practitioner-week each. */
async function load(): Promise<number> {
  let slots = 0;
  for (let p = 0; p < practitioners; p++) {
    for (let w = 0; w < weeks; w++) {
      const entry: Bundle['entry'] = [];
      if (w === 0) {
        entry.push({
          resource: { resourceType: 'Practitioner', id: `dr${p}` },
          request: { method: 'PUT', url: `Practitioner/dr${p}` },
        });
        const schedule = {
          resourceType: 'Schedule' as const,
          id: `sch${p}`,
          actor: [{ reference: `Practitioner/dr${p}` }],
        };
        entry.push({ resource: schedule, request: { method: 'PUT', url: `Schedule/sch${p}` } });
      }
      for (let d = 0; d < 5; d++)
        for (let i = 0; i < 16; i++) {
          const day = w * 7 + d;
          const slot: Slot = {
            resourceType: 'Slot',
            id: slotId(p, day, i),
            schedule: { reference: `Schedule/sch${p}` },
            status: 'free',
            start: new Date(slotStart(day, i)).toISOString(),
            end: new Date(slotStart(day, i) + 1800_000).toISOString(),
          };
          entry.push({ resource: slot, request: { method: 'PUT', url: `Slot/${slot.id}` } });
          slots++;
        }
      const res = await call('POST', '', { resourceType: 'Bundle', type: 'transaction', entry });
      if (res.status !== 200) throw new Error(`load: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    }
  }
  return slots;
}

/** Runs `n` requests `concurrency` at a time; requests/s and latency percentiles of the successful ones. */
async function rate(n: number, width: number, request: (i: number) => Promise<{ status: number }>) {
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        const res = await request(i);
        if (res.status >= 300) failed++;
        else latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rps: latencies.length / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), failed };
}

/** Loads and measures, then prints the table. */
async function measure(): Promise<void> {
  const loadBefore = loadavg()[0];
  const t0 = performance.now();
  const slotCount = await load();
  const loadSeconds = (performance.now() - t0) / 1000;

  const findLatencies: number[] = [];
  let found = 0;
  for (let k = 0; k < 200; k++) {
    const p = (k * 7919) % practitioners;
    const week = k % weeks;
    const start = new Date(FIRST_MONDAY + week * 7 * DAY).toISOString();
    const end = new Date(FIRST_MONDAY + (week + 1) * 7 * DAY).toISOString();
    const t = performance.now();
    const res = await call('GET', `Appointment/$find?practitioner=dr${p}&start=${start}&end=${end}`);
    findLatencies.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`$find: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    found += res.body.entry.length;
  }

  /** The i-th distinct Slot of the last week, over practitioners first. */
  const bookedSlot = (i: number) => ({
    p: i % practitioners,
    day: (weeks - 1) * 7 + (Math.floor(i / practitioners) % 5),
    i: Math.floor(i / (practitioners * 5)) % 16,
  });
  const book = await rate(bookings, concurrency, (i) => {
    const s = bookedSlot(i);
    return call('POST', 'Appointment/$book', {
      resourceType: 'Appointment',
      status: 'proposed',
      slot: [{ reference: `Slot/${slotId(s.p, s.day, s.i)}` }],
      participant: [{ actor: { reference: `Practitioner/dr${s.p}` } }, { actor: { reference: `Patient/b${i}` } }],
    });
  });
  const creates = await rate(bookings, concurrency, (i) => {
    const start = Date.parse('2032-01-05T00:00:00Z') + Math.floor(i / practitioners) * 1800_000;
    return call('POST', 'Appointment', {
      resourceType: 'Appointment',
      status: 'booked',
      start: new Date(start).toISOString(),
      end: new Date(start + 1800_000).toISOString(),
      participant: [
        { actor: { reference: `Practitioner/dr${i % practitioners}` }, status: 'accepted' },
        { actor: { reference: `Patient/c${i}` }, status: 'accepted' },
      ],
    });
  });
  const race = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      call('POST', 'Appointment/$book', {
        resourceType: 'Appointment',
        status: 'proposed',
        slot: [{ reference: `Slot/${slotId(0, 0, 0)}` }],
        participant: [{ actor: { reference: 'Practitioner/dr0' } }, { actor: { reference: `Patient/r${i}` } }],
      }),
    ),
  );

  const ms = (x: number) => x.toFixed(1);
  console.log(
    `scheduling bench: ${practitioners} practitioners × ${weeks} weeks = ${slotCount} Slots (loaded in ${loadSeconds.toFixed(0)} s)`,
  );
  console.log('| measure | value |\n|---|---|');
  console.log(
    `| $find, one week of one practitioner (80 Slots), p50 / p99 ms | ${ms(percentile(findLatencies, 0.5))} / ${ms(percentile(findLatencies, 0.99))} (${(found / 200).toFixed(0)} Slots per answer) |`,
  );
  console.log(
    `| $book distinct Slots, ${concurrency} at once: req/s, p50 / p99 ms | ${book.rps.toFixed(0)}, ${ms(book.p50)} / ${ms(book.p99)} (failed ${book.failed}) |`,
  );
  console.log(
    `| POST Appointment (checked), ${concurrency} at once: req/s, p50 / p99 ms | ${creates.rps.toFixed(0)}, ${ms(creates.p50)} / ${ms(creates.p99)} (failed ${creates.failed}) |`,
  );
  console.log(
    `| 100 concurrent $book of one Slot: 201 / 409 | ${race.filter((r) => r.status === 201).length} / ${race.filter((r) => r.status === 409).length} |`,
  );
  console.log(`load average (1 min): ${loadBefore.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after`);
}

try {
  await measure();
} finally {
  await server.close();
  await db.drop();
}
