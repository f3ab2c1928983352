/**
 * HL7v2 over MLLP, one command: `DATABASE_URL=<admin url> npx tsx bench/hl7v2.ts [--messages 10000] [--connections 20]`.
 *
 * Tributary runs as its own process (node options of `npm start`, AUTH off, LOG_LEVEL warn) on a fresh database.
 * 1. MLLP: `--connections` senders, each sending its share of a realistic mix (ADT A01, ADT A08, ORU R01 with 10 OBX,
 *    SIU S12) and waiting for each ACK: messages/s durable + ACKed, ACK latency p50/p99.
 * 2. End to end: from the first message until the inbox has none left unmapped: resources/s written to FHIR.
 * 3. The FHIR core alone: the same messages' transaction Bundles (mapped here, new identifiers) POSTed to /fhir with as
 *    many in flight as the door maps at once (HL7V2_CONCURRENCY): resources/s. The ratio 2/3 is measured in one run.
 * Server RSS is sampled every 200 ms (peak reported). Traffic goes to 127.0.0.1 only; the database is dropped after.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Feeds } from '../integrations/hl7v2/feeds.ts';
import { mapMessage } from '../integrations/hl7v2/map/index.ts';
import { V2Message } from '../integrations/hl7v2/parse/message.ts';
import { adtA01, oruR01 } from '../integrations/hl7v2/tests/helpers.ts';
import { MllpFramer, mllpFrame } from '../integrations/hl7v2/transport/framer.ts';
import { benchDatabase } from './bench-db.ts';
import { freePort, rssMb } from './local-process.ts';

const { values: args } = parseArgs({
  options: { messages: { type: 'string', default: '10000' }, connections: { type: 'string', default: '20' } },
});
const TOTAL = Number(args.messages);
const CONNECTIONS = Number(args.connections);
const CONCURRENCY = 4;
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function siuS12(id: string, mrn: string): string {
  return [
    `MSH|^~\\&|SCHED|GOOD HEALTH HOSPITAL|TRIBUTARY|TRIB|20240315140000||SIU^S12^SIU_S12|${id}|P|2.5.1`,
    `SCH|PL-${id}|FL-${id}||||ROUTINE^Routine||30|MIN|^^30^20240320090000^20240320093000|||||1^SMITH^JANE`,
    `PID|1||${mrn}^^^GHH^MR||EVERYMAN^ADAM||19800101|M`,
    `AIS|1||99213^Office visit^CPT|20240320090000|||30|MIN`,
    `AIP|1||1^SMITH^JANE^^^DR|D^Doctor`,
  ].join('\r');
}

/** The i-th message of the mix (control ids and patients unique per run). */
function message(run: string, i: number): string {
  const id = `${run}-${i}`;
  const mrn = `B${run}-${i % 2000}`;
  switch (i % 4) {
    case 0:
      return adtA01(id, mrn);
    case 1:
      return adtA01(id, mrn, { event: 'A08' });
    case 2:
      return oruR01(id, mrn, 10);
    default:
      return siuS12(id, mrn);
  }
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

async function sender(port: number, items: string[], latencies: number[]): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let resolveAck: (() => void) | undefined;
  const framer = new MllpFramer(1 << 20, { frame: () => resolveAck?.(), oversize: () => {}, discarded: () => {} });
  socket.on('data', (d) => framer.push(d));
  for (const text of items) {
    const started = process.hrtime.bigint();
    const acked = new Promise<void>((r) => (resolveAck = r));
    socket.write(mllpFrame(text));
    await acked;
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  socket.end();
}

async function main(): Promise<void> {
  const db = await benchDatabase(adminUrl);
  const [httpPort, mllpPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=8', '--heap-growing-percent=50', '--import', 'tsx', 'server/main.ts'],
    {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        PORT: String(httpPort),
        HOST: '127.0.0.1',
        MLLP_PORT: String(mllpPort),
        AUTH: 'off',
        LOG_LEVEL: 'warn',
        HL7V2_CONCURRENCY: String(CONCURRENCY),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const base = `http://127.0.0.1:${httpPort}`;
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(child.pid!))), 200);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/healthz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (i > 600) throw new Error('the server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const run = Date.now().toString(36);
    const items = Array.from({ length: TOTAL }, (_, i) => message(run, i));
    const feeds = new Feeds([], { timeZone: 'UTC' });
    const perMessage = await Promise.all(
      items
        .slice(0, 4)
        .map(
          async (t) =>
            (await mapMessage(V2Message.parse(t), { feed: feeds.match('*', '*'), raw: Buffer.from(t), key: t })).entry!
              .length,
        ),
    );
    const resources = items.reduce((n, _, i) => n + perMessage[i % 4], 0);

    // 1 and 2: MLLP, then until everything is mapped.
    const latencies: number[] = [];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, c) =>
        sender(
          mllpPort,
          items.filter((_, i) => i % CONNECTIONS === c),
          latencies,
        ),
      ),
    );
    const ackedMs = Date.now() - started;
    for (;;) {
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM inbox_message WHERE state IN ('received', 'failed')`,
      );
      if (rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const mappedMs = Date.now() - started;
    const { rows: dead } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inbox_message WHERE state = 'dead'`,
    );

    // 3: the FHIR core alone, same resources (new identifiers), same parallelism.
    const run2 = `${run}c`;
    const bundles = await Promise.all(
      Array.from({ length: TOTAL }, (_, i) => message(run2, i)).map(async (t) =>
        JSON.stringify(
          await mapMessage(V2Message.parse(t), { feed: feeds.match('*', '*'), raw: Buffer.from(t), key: t }),
        ),
      ),
    );
    let next = 0;
    let failures = 0;
    const coreStart = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < bundles.length) {
          const body = bundles[next++];
          const res = await fetch(`${base}/fhir`, {
            method: 'POST',
            headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
            body,
          });
          await res.arrayBuffer();
          if (res.status !== 200) failures++;
        }
      }),
    );
    const coreMs = Date.now() - coreStart;
    latencies.sort((a, b) => a - b);
    const mllpRate = TOTAL / (ackedMs / 1000);
    const e2eRate = resources / (mappedMs / 1000);
    const coreRate = resources / (coreMs / 1000);
    console.log(
      `\nHL7v2 benchmark: ${TOTAL} messages (ADT A01, ADT A08, ORU R01 ×10 OBX, SIU S12; ${resources} resources), ${CONNECTIONS} MLLP connections, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    console.log('| measure | value | target |');
    console.log('|---|---:|---|');
    console.log(`| durable + ACKed over MLLP | ${mllpRate.toFixed(0)} messages/s | ≥ 2,000 |`);
    console.log(
      `| ACK latency p50 / p99 | ${pct(latencies, 0.5).toFixed(1)} / ${pct(latencies, 0.99).toFixed(1)} ms | p99 ≤ 50 ms |`,
    );
    console.log(
      `| end to end into FHIR (mapped, committed) | ${e2eRate.toFixed(0)} resources/s (${(TOTAL / (mappedMs / 1000)).toFixed(0)} messages/s) | |`,
    );
    console.log(
      `| FHIR core transactions, same resources, ${CONCURRENCY} in flight | ${coreRate.toFixed(0)} resources/s${failures ? ` (${failures} failed)` : ''} | |`,
    );
    console.log(`| ratio end to end / core | ${(e2eRate / coreRate).toFixed(2)} | ≥ 0.7 |`);
    console.log(`| dead letters | ${dead[0].n} | 0 |`);
    console.log(`| server RSS peak | ${peakRss.toFixed(0)} MB | ≤ 350 MB |`);
  } finally {
    clearInterval(sampler);
    await pool.end();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await db.drop();
  }
}

await main();
