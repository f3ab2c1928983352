import { createServer, type Server } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../harness.ts';
import { toyDoor, type ToyAck, type ToyDoor } from './toy-door.ts';

/**
 * The seams, tried as a new door would use them (issue 14): a door from outside server/ registers itself with a port,
 * an operation and an in-process client of its own, confined access; `/healthz` lists it.
 */
let server: Tributary;
let door: ToyDoor;

beforeAll(async () => {
  door = toyDoor();
  server = await startTestServer({}, {}, { doors: [door] });
});
afterAll(async () => {
  await server?.close();
});

const search = async (query: string) => (await fhir(server, 'GET', query)).body.entry ?? [];

/** Sends one JSON line to the door's own port and reads its acknowledgement. */
async function sendLine(port: number, message: object): Promise<ToyAck> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${JSON.stringify(message)}\n`));
    socket.setEncoding('utf8');
    socket.once('data', (line: string) => {
      socket.end();
      resolve(JSON.parse(line) as ToyAck);
    });
    socket.once('error', reject);
  });
}

describe('a door from outside server/', () => {
  it('is listed in /healthz with its port, and its operation answers with its declared access rule', async () => {
    const health = await (await fetch(`${server.url}/healthz`)).json();
    const toy = health.doors.find((d: { name: string }) => d.name === 'toy');
    expect(toy).toMatchObject({ name: 'toy', state: 'up', port: expect.any(Number) });
    expect(health.doors.map((d: { name: string }) => d.name)).toEqual([
      'http',
      'terminology',
      'scheduling',
      'bots',
      'notes',
      'prescription-validation',
      'hl7v2',
      'mqtt',
      'toy',
      'subscriptions',
      'jobs',
    ]);
    expect(server.router.listRoutes().find((r) => r.interaction === 'toy-count')?.access).toBe('read');
    const count = await fhir(server, 'GET', 'Patient/$toy-count');
    expect(count.status).toBe(200);
  });

  it('writes a transaction through the in-process client: resources with one Provenance naming the door', async () => {
    const port = door.status().port as number;
    const ack = await sendLine(port, { id: 'm1', mrn: 'MRN-1', readings: [{ code: '8867-4', value: 72 }] });
    expect(ack.code).toBe('AA');
    const [patient] = await search('Patient?identifier=urn:toy:mrn|MRN-1');
    const [obs] = await search(`Observation?subject=Patient/${patient.resource.id}`);
    expect(obs.resource.valueQuantity.value).toBe(72);
    const [provenance] = await search(`Provenance?target=Observation/${obs.resource.id}`);
    expect(provenance.resource.agent[0].who.reference).toBe('Device/toy');
    expect(provenance.resource.target.map((t: { reference: string }) => t.reference).sort()).toEqual(
      [`Patient/${patient.resource.id}/_history/1`, `Observation/${obs.resource.id}/_history/1`].sort(),
    );
    // replaying the message changes nothing but versions of the patient (conditional writes on identifiers)
    expect((await door.ingest({ id: 'm1', mrn: 'MRN-1', readings: [{ code: '8867-4', value: 72 }] })).code).toBe('AA');
    expect(await search(`Observation?subject=Patient/${patient.resource.id}`)).toHaveLength(1);
  });

  it('a write outside its scopes is the door’s own failure (AE) and nothing of the message is kept', async () => {
    const ack = await door.ingest({
      id: 'm2',
      mrn: 'MRN-2',
      readings: [{ code: '8867-4', value: 80 }],
      diagnosis: 'x',
    });
    expect(ack).toMatchObject({ code: 'AE', error: expect.stringMatching(/Insufficient scope: create of Condition/) });
    expect(await search('Patient?identifier=urn:toy:mrn|MRN-2')).toEqual([]);
    expect(await search('Observation?identifier=urn:toy:reading|m2-8867-4')).toEqual([]);
  });
});

describe('door ports', () => {
  let taken: Server;
  let takenPort: number;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    takenPort = (taken.address() as { port: number }).port;
  });
  afterAll(() => {
    taken.close();
  });

  it('a default port already taken leaves the door down with the reason; the server runs', async () => {
    const quiet = toyDoor(takenPort);
    const other = await startTestServer({}, {}, { doors: [quiet] });
    try {
      expect(quiet.status()).toMatchObject({
        state: 'down',
        port: takenPort,
        reason: expect.stringContaining('in use'),
      });
      expect((await fetch(`${other.url}/healthz`)).status).toBe(200);
    } finally {
      await other.close();
    }
  });

  it('a port the operator set and cannot get stops the start with that message', async () => {
    await expect(startTestServer({}, { TOY_PORT: String(takenPort) }, { doors: [toyDoor()] })).rejects.toThrow(
      `toy: port ${takenPort} on 127.0.0.1 is already in use`,
    );
  });
});

describe('operations must declare their access rule', () => {
  it('the router refuses a route without one, and an operation posing as an interaction', () => {
    const noop = async () => ({ status: 200 });
    expect(() => server.router.add('POST', 'Patient/$undeclared', 'undeclared', noop, undefined as never)).toThrow(
      /declare its access rule/,
    );
    expect(() => server.router.add('POST', 'Patient/$sneaky', 'sneaky', noop, 'interaction')).toThrow(
      /not a FHIR interaction/,
    );
    for (const route of server.router.listRoutes()) {
      expect(['interaction', 'public', 'read', 'unrestricted'], `${route.method} ${route.pattern}`).toContain(
        route.access,
      );
    }
  });
});
