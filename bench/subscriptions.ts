/**
 * Subscription benchmark (issue 5):
 * `npx tsx bench/subscriptions.ts [--writes 2000] [--subscriptions 10000] [--events 300] [--rounds 3] [--unanchored 1]`.
 *
 * 1. Writes with and without 10,000 active subscriptions, three lanes, each on a fresh server (AUTH=off), `--rounds`
 *    times (medians): no subscriptions; 10,000 rest-hook subscriptions on `Observation?subject=Patient/<id>` (the
 *    realistic shape: one per patient or device; 1% have criteria without an equality anchor,
 *    `Observation?value-quantity=gt…`, judged for every write with a value; `--unanchored` sets the percentage) that the writes do not match — the cost
 *    of matching alone; and the same where every write matches one subscription, delivered to a receiver on
 *    loopback — matching plus queuing and delivering a notification per write. `--writes` Observation creates
 *    through the router, 8 at a time. Prints creates/s, the ratio to no subscriptions, how long the outbox reader
 *    needed after the last write, and the notifications queued.
 * 2. Websocket latency: a client bound to a websocket subscription (full-resource) on the 10,000-subscription server
 *    gets `--events` notifications, written one at a time; latency is from the version's `meta.lastUpdated` (set
 *    just before commit) to the message's arrival. Prints p50/p99/max.
 * Uses DATABASE_URL (an admin URL; each server gets its own database, dropped after) or the local Postgres.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startTributary, type Tributary } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { FhirContext } from '../server/core/types.ts';
import { startReceiver } from '../test/receiver.ts';
import { openSocket } from '../test/ws-client.ts';
import { benchDatabase } from './bench-db.ts';

const { values: args } = parseArgs({
  options: {
    writes: { type: 'string', default: '2000' },
    subscriptions: { type: 'string', default: '10000' },
    events: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '3' },
    unanchored: { type: 'string', default: '1' },
  },
});
/** Percent of the subscriptions whose criteria have no equality anchor (judged by SQL for every write with a value). */
const UNANCHORED = Number(args.unanchored);
const ROUNDS = Number(args.rounds);
const WRITES = Number(args.writes);
const SUBSCRIPTIONS = Number(args.subscriptions);
const EVENTS = Number(args.events);
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PATIENTS = 1000;

async function withServer<T>(fn: (server: Tributary) => Promise<T>): Promise<T> {
  const db = await benchDatabase(adminUrl);
  const config = {
    ...loadConfig({ AUTH: 'off', SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1' }),
    port: 0,
    host: '127.0.0.1',
    databaseUrl: db.url,
  };
  const server = await startTributary(config, { logger: pino({ level: 'silent' }) });
  try {
    return await fn(server);
  } finally {
    await server.close();
    await db.drop();
  }
}

const ctxOf = (server: Tributary): FhirContext => ({
  repo: server.repo,
  baseUrl: server.fhirBase,
  requestId: 'bench',
  access: { kind: 'system' },
});

/**
 * Creates `n` subscriptions through the store (write rule included), 500 per transaction: on the given patients
 * first (those the writes are about), then on other ones; each `endpoint`.
 */
async function createSubscriptions(server: Tributary, n: number, patients: string[], endpoint: string): Promise<void> {
  for (let i = 0; i < n; i += 500) {
    await server.repo.transaction(async (repo) => {
      for (let k = i; k < Math.min(n, i + 500); k++) {
        const criteria =
          UNANCHORED > 0 && k % Math.round(100 / UNANCHORED) === 0
            ? `Observation?value-quantity=gt${1000 + k}`
            : `Observation?subject=Patient/${k < patients.length ? patients[k] : randomUUID()}`;
        await repo.create({
          resourceType: 'Subscription',
          status: 'active',
          reason: 'bench',
          criteria,
          channel: { type: 'rest-hook', endpoint },
        });
      }
    });
  }
}

/** Runs `count` Observation creates through the router, `parallel` at a time; returns creates per second. */
async function writeObservations(server: Tributary, count: number, patients: string[], parallel = 8): Promise<number> {
  const ctx = ctxOf(server);
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        const body = {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
          subject: { reference: `Patient/${patients[i % patients.length]}` },
          valueQuantity: { value: 60 + (i % 40), unit: '/min' },
        };
        const res = await server.router.handle(ctx, {
          method: 'POST',
          path: 'Observation',
          query: {},
          body,
          headers: { preferReturn: 'minimal' },
        });
        if (res.status !== 201) throw new Error(`create answered ${res.status}`);
      }
    }),
  );
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** Waits until the outbox is empty; returns the seconds it took. */
async function drainOutbox(server: Tributary): Promise<number> {
  const started = Date.now();
  for (;;) {
    const { rows } = await server.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
    if (rows[0].n === 0) return (Date.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Lane = 'none' | 'not matching' | 'one match per write';

async function writeLane(lane: Lane, receiverUrl: string) {
  return withServer(async (server) => {
    const patients = Array.from({ length: PATIENTS }, () => randomUUID());
    const subscribed = lane === 'one match per write' ? patients : [];
    if (lane !== 'none') await createSubscriptions(server, SUBSCRIPTIONS, subscribed, receiverUrl);
    await drainOutbox(server);
    await writeObservations(server, 200, patients); // warm-up
    await drainOutbox(server);
    const before = await notifications(server);
    const perSecond = await writeObservations(server, WRITES, patients);
    const drain = await drainOutbox(server);
    return { perSecond, drain, notifications: (await notifications(server)) - before };
  });
}

async function notifications(server: Tributary): Promise<number> {
  const { rows } = await server.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM subscription_delivery WHERE kind = 'event'",
  );
  return rows[0].n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function websocketLane(subscriptions: number, receiverUrl: string) {
  return withServer(async (server) => {
    await createSubscriptions(server, subscriptions, [], receiverUrl);
    await drainOutbox(server);
    const ctx = ctxOf(server);
    const sub = await server.router.handle(ctx, {
      method: 'POST',
      path: 'Subscription',
      query: {},
      headers: {},
      body: {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'latency',
        criteria: 'Observation?code=ws-latency',
        channel: {
          type: 'websocket',
          payload: 'application/fhir+json',
          _payload: {
            extension: [
              {
                url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content',
                valueCode: 'full-resource',
              },
            ],
          },
        },
      },
    });
    const id = (sub.resource as { id: string }).id;
    const token = await server.router.handle(ctx, {
      method: 'POST',
      path: `Subscription/${id}/$get-ws-binding-token`,
      query: {},
      headers: {},
    });
    const params = (token.resource as { parameter: { name: string; valueString?: string; valueUrl?: string }[] })
      .parameter;
    const socket = await openSocket(params.find((p) => p.name === 'websocket-url')?.valueUrl as string);
    const latencies: number[] = [];
    socket.ws.on('message', (data) => {
      const at = Date.now();
      const bundle = JSON.parse(String(data));
      const resource = bundle.entry?.[1]?.resource;
      if (resource?.meta?.lastUpdated) latencies.push(at - Date.parse(resource.meta.lastUpdated));
    });
    socket.ws.send(`bind-with-token ${params.find((p) => p.name === 'token')?.valueString}`);
    await socket.waitFor(1);
    for (let i = 0; i < EVENTS; i++) {
      const body = {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ code: 'ws-latency' }] },
        valueInteger: i,
      };
      await server.router.handle(ctx, {
        method: 'POST',
        path: 'Observation',
        query: {},
        body,
        headers: { preferReturn: 'minimal' },
      });
      await new Promise((r) => setTimeout(r, 10));
    }
    const deadline = Date.now() + 10_000;
    while (latencies.length < EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await socket.close();
    return latencies.sort((a, b) => a - b);
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main(): Promise<void> {
  const receiver = await startReceiver();
  const lanes: Lane[] = ['none', 'not matching', 'one match per write'];
  const results = new Map<Lane, { perSecond: number; drain: number; notifications: number }[]>(
    lanes.map((l) => [l, []]),
  );
  // Rounds interleave the lanes, so a change in the machine's load touches all of them alike.
  for (let round = 0; round < ROUNDS; round++)
    for (const lane of lanes) results.get(lane)?.push(await writeLane(lane, receiver.url));
  const base = median((results.get('none') ?? []).map((r) => r.perSecond));
  console.log(
    `\nObservation creates through the router, 8 at a time, ${WRITES} per lane, medians of ${ROUNDS} rounds (AUTH=off); ${UNANCHORED}% of the subscriptions unanchored`,
  );
  console.log(
    '| active subscriptions | creates/s | ratio | outbox drained after the last write (s) | notifications queued |',
  );
  console.log('|---|---|---|---|---|');
  for (const lane of lanes) {
    const rs = results.get(lane) ?? [];
    const rate = median(rs.map((r) => r.perSecond));
    const label = lane === 'none' ? '0' : `${SUBSCRIPTIONS}, ${lane}`;
    console.log(
      `| ${label} | ${rate.toFixed(0)} | ${(rate / base).toFixed(2)} | ${median(rs.map((r) => r.drain)).toFixed(2)} | ${median(rs.map((r) => r.notifications))} |`,
    );
  }
  const latencies = await websocketLane(SUBSCRIPTIONS, receiver.url);
  await receiver.close();
  console.log(
    `\nWebsocket notification latency, commit (meta.lastUpdated) to arrival, ${latencies.length}/${EVENTS} events, ${SUBSCRIPTIONS} other subscriptions active`,
  );
  console.log('| p50 ms | p90 ms | p99 ms | max ms |');
  console.log('|---|---|---|---|');
  console.log(
    `| ${pct(latencies, 50)} | ${pct(latencies, 90)} | ${pct(latencies, 99)} | ${latencies[latencies.length - 1]} |`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
