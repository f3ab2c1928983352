import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/global-setup.ts';
import { createTestDatabase, dropTestDatabase } from '../../../test/harness.ts';
import { startServerProcess } from '../../../test/server-process.ts';
import { oruR01, RawMllpClient, segment } from './helpers.ts';

// Never lost, never doubled: a stream of ORU messages over 10 MLLP connections while the server is SIGKILLed twice.
// A sender resends what it got no ACK for (same control id), as MLLP senders do; afterwards every ACKed message is
// in FHIR once, and each patient exists once.
const MESSAGES = 2000;
const CONNECTIONS = 10;
const KILL_AT = [500, 1200];

let databaseUrl: string;
let httpPort: number;
let mllpPort: number;
let child: ChildProcess | undefined;

async function start(): Promise<void> {
  const env = { MLLP_PORT: String(mllpPort), MLLP_HOST: '127.0.0.1' };
  child = (await startServerProcess(databaseUrl, httpPort, env)).child;
}

beforeAll(async () => {
  databaseUrl = await createTestDatabase('hl7kill');
  [httpPort, mllpPort] = [await freePort(), await freePort()];
  await start();
});
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

const controlId = (i: number) => `K${String(i).padStart(5, '0')}`;

/** Sends messages `c, c+CONNECTIONS, …` one at a time; a message without an ACK is sent again on a new connection. */
async function sender(c: number, acked: Set<string>, restarting: () => Promise<void>): Promise<void> {
  let client: RawMllpClient | undefined;
  for (let i = c; i < MESSAGES; i += CONNECTIONS) {
    const id = controlId(i);
    for (let attempt = 0; !acked.has(id); attempt++) {
      if (attempt > 200) throw new Error(`no ACK for ${id}`);
      await restarting();
      try {
        client ??= await RawMllpClient.connect(mllpPort);
        const before = client.acks.length;
        client.send(oruR01(id, `MRN-KILL-${c}`, 1));
        const acks = await client.waitFor(before + 1, 5000);
        const ack = acks[before];
        if (ack && segment(ack, 'MSA')?.[1] === 'AA' && segment(ack, 'MSA')?.[2] === id) acked.add(id);
        else throw new Error(`no ACK (${ack ? segment(ack, 'MSA')?.join('|') : 'none'})`);
      } catch {
        client?.close();
        client = undefined;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  client?.close();
}

async function fhirGet(path: string): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/fhir/${path}`);
  expect(res.status).toBe(200);
  return res.json();
}

async function count(type: string): Promise<number> {
  return (await fhirGet(`${type}?_summary=count`)).total as number;
}

/** The identifier values of every DiagnosticReport, page by page. */
async function reportIdentifiers(): Promise<string[]> {
  const values: string[] = [];
  let next: string | undefined = `DiagnosticReport?_count=500&_elements=identifier`;
  while (next) {
    const page: any = await fhirGet(next);
    for (const e of page.entry ?? []) values.push(...(e.resource.identifier ?? []).map((x: any) => x.value));
    const link = (page.link ?? []).find((l: any) => l.relation === 'next')?.url as string | undefined;
    next = link ? link.slice(link.indexOf('/fhir/') + '/fhir/'.length) : undefined;
  }
  return values;
}

describe('HL7 v2 over MLLP across SIGKILLs', () => {
  it(`stores each of ${MESSAGES} ACKed messages once after ${KILL_AT.length} kills under 10 connections`, async () => {
    const acked = new Set<string>();
    let restart: Promise<void> | undefined;
    const kills = [...KILL_AT];
    const restarting = async () => {
      if (!restart && kills.length > 0 && acked.size >= kills[0]) {
        kills.shift();
        const victim = child!;
        restart = (async () => {
          victim.kill('SIGKILL');
          await once(victim, 'exit');
          await start();
          restart = undefined;
        })();
      }
      if (restart) await restart;
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, c) => sender(c, acked, restarting)));
    expect(acked.size).toBe(MESSAGES);
    expect(kills).toEqual([]);

    // ACK means stored; mapping runs in the background (and after a restart, for what was stored but not mapped).
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const states = async () =>
      (await db.query(`SELECT state, count(*)::int AS n FROM inbox_message GROUP BY state ORDER BY state`)).rows;
    const deadline = Date.now() + 400_000;
    while ((await states()).some((s) => s.state === 'received') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
    const final = await states();
    await db.end();
    expect(final).toEqual([{ state: 'processed', n: MESSAGES }]);
    expect(await count('Observation')).toBe(MESSAGES);
    expect(await count('DiagnosticReport')).toBe(MESSAGES);
    expect(await count('Patient')).toBe(CONNECTIONS);
    // Each report carries its order's identifier (OBR-2 `ORD-<control id>`): one report per message, none twice.
    const ids = (await reportIdentifiers()).map((v) => /^ORD-(K\d{5})$/.exec(v)?.[1]).filter(Boolean);
    expect(ids.length).toBe(MESSAGES);
    const stored = new Set(ids);
    expect(stored.size).toBe(MESSAGES);
    expect(Array.from(acked).filter((id) => !stored.has(id))).toEqual([]);
  }, 600_000);
});
