import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Client, { Message } from 'node-hl7-client';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fhir, startTestServer } from '../../../test/harness.ts';
import type { Tributary } from '../../../server/app.ts';
import { SB, EB, CR } from '../transport/framer.ts';
import { adtA01, oruR01, RawMllpClient, segment } from './helpers.ts';

let server: Tributary;
let port: number;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hl7v2-feeds-'));
  const feeds = join(dir, 'feeds.json');
  // One synchronous feed (AA only once mapped); everything else takes the default (AA once stored).
  writeFileSync(
    feeds,
    JSON.stringify([{ application: 'SYNC', ack: 'mapped', identifierSystems: { GHH: 'urn:oid:1.2.3.4' } }]),
  );
  server = await startTestServer(
    {},
    { HL7V2_TIMEZONE: 'Europe/Paris', MLLP_MAX_BYTES: String(256 * 1024), HL7V2_FEEDS: feeds },
  );
  port = server.doors().find((d) => d.name === 'hl7v2')?.port as number;
});
afterAll(async () => {
  await server?.close();
});

/** Waits until a search finds `n` resources (mapping after an AA runs in the background). */
async function eventually(path: string, n: number): Promise<any> {
  for (let i = 0; i < 100; i++) {
    const res = await fhir(server, 'GET', path);
    if ((res.body.entry?.length ?? 0) >= n) return res.body;
    await new Promise((r) => setTimeout(r, 100));
  }
  return (await fhir(server, 'GET', path)).body;
}

describe('MLLP with a client we did not write (node-hl7-client)', () => {
  it('sends an ADT^A01 and reads its AA; the patient and encounter land in FHIR with a MessageHeader and Provenance', async () => {
    const client = new Client({ host: '127.0.0.1', version: '2.5.1' } as any);
    const acks: string[] = [];
    const conn = client.createConnection({ port, waitAck: true } as any, async (res: any) => {
      acks.push(res.getMessage().toString());
    });
    await conn.sendMessage(new Message({ text: adtA01('NODECLIENT-1', 'MRN-NODE') }));
    for (let i = 0; i < 100 && acks.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    await conn.close();
    expect(acks).toHaveLength(1);
    expect(segment(acks[0], 'MSA')?.slice(1, 3)).toEqual(['AA', 'NODECLIENT-1']);
    // Sender and receiver swapped in the ACK's MSH.
    expect(segment(acks[0], 'MSH')?.slice(2, 6)).toEqual(['TRIBUTARY', 'TRIB', 'REGADT', 'GOOD HEALTH HOSPITAL']);
    const patients = await eventually('Patient?identifier=MRN-NODE', 1);
    expect(patients.entry[0].resource).toMatchObject({
      gender: 'male',
      birthDate: '1980-01-01',
      name: [{ family: 'EVERYMAN' }],
    });
    const headers = await eventually('MessageHeader?event=A01', 1);
    expect(headers.entry.length).toBeGreaterThanOrEqual(1);
    const provenance = await eventually(`Provenance?target=Patient/${patients.entry[0].resource.id}`, 1);
    expect(provenance.entry[0].resource.entity[0].what.reference).toMatch(/^Binary\//);
  });
});

describe('framing over a raw socket', () => {
  it('answers several frames in one chunk, a frame split over chunks and skips bytes before a start block', async () => {
    const c = await RawMllpClient.connect(port);
    const frame = (s: string) => Buffer.concat([Buffer.from([SB]), Buffer.from(s), Buffer.from([EB, CR])]);
    c.write(
      Buffer.concat([Buffer.from('garbage before'), frame(adtA01('F-1', 'MRN-F1')), frame(adtA01('F-2', 'MRN-F2'))]),
    );
    const split = frame(adtA01('F-3', 'MRN-F3'));
    for (let i = 0; i < split.length; i += 7) {
      c.write(split.subarray(i, i + 7));
      await new Promise((r) => setTimeout(r, 1));
    }
    const acks = await c.waitFor(3);
    c.close();
    expect(acks.map((a) => segment(a, 'MSA')?.slice(1, 3))).toEqual([
      ['AA', 'F-1'],
      ['AA', 'F-2'],
      ['AA', 'F-3'],
    ]);
  });

  it('NAKs with AR and ERR: no MSH, unknown message type, over MLLP_MAX_BYTES, a wrong encoding — and keeps serving', async () => {
    const c = await RawMllpClient.connect(port);
    c.send('PID|1||X\rPV1|1|I');
    c.send(adtA01('U-1').replace('ADT^A01^ADT_A01', 'ZZZ^Z99'));
    c.send(`${adtA01('BIG-1')}\rNTE|1||${'x'.repeat(300 * 1024)}`);
    c.send(
      Buffer.concat([
        Buffer.from(adtA01('ENC-1').replace('|2.5.1|||', '|2.5.1||||||UNICODE UTF-8')),
        Buffer.from([0xff, 0xfe, 0xc3]),
      ]),
    );
    c.send(adtA01('AFTER-1', 'MRN-AFTER'));
    const acks = await c.waitFor(5);
    c.close();
    expect(acks).toHaveLength(5);
    expect(segment(acks[0], 'MSA')?.[1]).toBe('AR');
    expect(segment(acks[0], 'ERR')?.[3]).toMatch(/^100\^/);
    expect(segment(acks[1], 'MSA')?.slice(1, 3)).toEqual(['AR', 'U-1']);
    expect(segment(acks[1], 'ERR')?.slice(2, 4)).toEqual(['MSH^1^9^1', '200^Unsupported message type^HL70357']);
    expect(segment(acks[2], 'MSA')?.slice(1, 3)).toEqual(['AR', 'BIG-1']);
    expect(segment(acks[3], 'MSA')?.slice(1, 3)).toEqual(['AR', 'ENC-1']);
    expect(segment(acks[3], 'ERR')?.[2]).toBe('MSH^1^18^1');
    expect(segment(acks[4], 'MSA')?.slice(1, 3)).toEqual(['AA', 'AFTER-1']);
  });

  it('garbage and truncated frames never crash the door; other connections keep working', async () => {
    const bad = await RawMllpClient.connect(port);
    const good = await RawMllpClient.connect(port);
    bad.write(Buffer.from([SB, 0x00, 0xff, EB, CR, SB]));
    bad.write(Buffer.from('MSH|^~\\&|X|Y'));
    bad.write(Buffer.from([SB]));
    bad.write(Buffer.from(`MSH|\u0000\u0001\u0002|\r`));
    bad.write(Buffer.from([EB, CR]));
    good.send(adtA01('GOOD-1', 'MRN-GOOD'));
    const acks = await good.waitFor(1);
    expect(segment(acks[0], 'MSA')?.slice(1, 3)).toEqual(['AA', 'GOOD-1']);
    const badAcks = await bad.waitFor(2);
    expect(badAcks.every((a) => segment(a, 'MSA')?.[1] === 'AR')).toBe(true);
    bad.close();
    good.close();
  });
});

describe('durable, deduplicated, acknowledged per MSH-15/16 and the feed', () => {
  it('a retransmission gets the original ACK again and is processed once', async () => {
    const c = await RawMllpClient.connect(port);
    c.send(oruR01('DUP-1', 'MRN-DUP', 2));
    await c.waitFor(1);
    await eventually('Observation?subject.identifier=MRN-DUP', 2);
    c.send(oruR01('DUP-1', 'MRN-DUP', 2));
    const acks = await c.waitFor(2);
    c.close();
    expect(acks.map((a) => segment(a, 'MSA')?.slice(1, 3))).toEqual([
      ['AA', 'DUP-1'],
      ['AA', 'DUP-1'],
    ]);
    const inbox = await server.inbox.list({ door: 'hl7v2' }, 1000);
    const row = inbox.find((m) => m.dedupKey.endsWith('^DUP-1'))!;
    expect(row).toMatchObject({ duplicates: 1, state: 'processed', attempts: 1 });
    const stored = await server.inbox.get(row.id);
    expect(stored!.payload.toString('utf8')).toBe(oruR01('DUP-1', 'MRN-DUP', 2)); // bytes as received
    const obs = await fhir(server, 'GET', 'Observation?subject.identifier=MRN-DUP');
    expect(obs.body.entry).toHaveLength(2);
    expect((await fhir(server, 'GET', 'MessageHeader?_summary=count')).status).toBe(200);
  });

  it('enhanced mode: CA once stored, then the application ACK as a new message (MSH-16 AL)', async () => {
    const c = await RawMllpClient.connect(port);
    c.send(adtA01('ENH-1', 'MRN-ENH', { msh15: 'AL', msh16: 'AL' }));
    const acks = await c.waitFor(2);
    c.close();
    expect(segment(acks[0], 'MSA')?.slice(1, 3)).toEqual(['CA', 'ENH-1']);
    expect(segment(acks[1], 'MSA')?.slice(1, 3)).toEqual(['AA', 'ENH-1']);
    expect(segment(acks[1], 'MSH')?.[9]).not.toBe(segment(acks[0], 'MSH')?.[9]);
  });

  it('a feed acknowledging after mapping answers AE with an ERR naming the field, and dead-letters the message', async () => {
    const c = await RawMllpClient.connect(port);
    const noId = adtA01('SYNC-1').replace('REGADT', 'SYNC').replace('MRN-1^^^GHH^MR', '');
    c.send(noId);
    c.send(adtA01('SYNC-2', 'MRN-SYNC').replace('REGADT', 'SYNC'));
    const acks = await c.waitFor(2);
    c.close();
    expect(segment(acks[0], 'MSA')?.slice(1, 3)).toEqual(['AE', 'SYNC-1']);
    expect(segment(acks[0], 'ERR')?.slice(2, 4)).toEqual(['PID^1^3^1', '101^Required field missing^HL70357']);
    expect(segment(acks[1], 'MSA')?.slice(1, 3)).toEqual(['AA', 'SYNC-2']);
    // AA after mapping: the patient is there already, with the feed's identifier system.
    const p = await fhir(server, 'GET', 'Patient?identifier=urn:oid:1.2.3.4|MRN-SYNC');
    expect(p.body.entry).toHaveLength(1);
    const dead = await server.inbox.list({ door: 'hl7v2', states: ['dead'] }, 100);
    expect(dead.find((m) => m.dedupKey === 'SYNC^GOOD HEALTH HOSPITAL^SYNC-1')?.error?.issue?.[0]).toMatchObject({
      expression: ['PID-3'],
    });
  });
});

describe('POST /hl7/v2', () => {
  it('takes a Mirth-style batch file and answers a batch of ACKs; $convert writes nothing', async () => {
    const batch = [
      'FHS|^~\\&|MIRTH',
      'BHS|^~\\&|MIRTH',
      adtA01('B-1', 'MRN-B1'),
      oruR01('B-2', 'MRN-B1', 1),
      'BTS|2',
      'FTS|1',
    ].join('\r');
    const res = await fetch(`${server.url}/hl7/v2`, {
      method: 'POST',
      headers: { 'content-type': 'x-application/hl7-v2+er7' },
      body: batch,
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.startsWith('BHS|')).toBe(true);
    expect(
      text
        .split('\r')
        .filter((s) => s.startsWith('MSA|'))
        .map((s) => s.split('|').slice(1, 3)),
    ).toEqual([
      ['AA', 'B-1'],
      ['AA', 'B-2'],
    ]);
    const convert = await fetch(`${server.url}/hl7/v2/$convert`, {
      method: 'POST',
      headers: { 'content-type': 'x-application/hl7-v2+er7' },
      body: oruR01('CONV-1', 'MRN-CONV', 2),
    });
    expect(convert.status).toBe(200);
    const bundle = await convert.json();
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry.map((e: any) => e.resource.resourceType)).toEqual(
      expect.arrayContaining([
        'Patient',
        'ServiceRequest',
        'DiagnosticReport',
        'Observation',
        'MessageHeader',
        'Provenance',
        'Binary',
      ]),
    );
    expect((await fhir(server, 'GET', 'Patient?identifier=MRN-CONV')).body.entry ?? []).toHaveLength(0);
    const wrongType = await fetch(`${server.url}/hl7/v2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
  });
});
