import type { Appointment } from '@medplum/fhirtypes';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { RawMllpClient, segment } from '../../../integrations/hl7v2/tests/helpers.ts';
import { resourcesOf } from './fixtures.ts';

/** HL7 SIU writes through the router, so the Appointment write check refuses a double booking with an AE. */
let server: Tributary;
let port: number;

/** An SIU^S12 (new appointment) of a patient with a practitioner, from `start` for 30 minutes (UTC times). */
function siuS12(controlId: string, appointmentId: string, mrn: string, start: string, end: string): string {
  return [
    `MSH|^~\\&|SYNC|GHH|TRIBUTARY|TRIB|20310301090000||SIU^S12^SIU_S12|${controlId}|P|2.5.1`,
    `SCH|P-${appointmentId}|${appointmentId}|||||ROUTINE^Routine||30|min|^^30^${start}^${end}`,
    `PID|1||${mrn}^^^GHH^MR||DOE^JANE||19800101|F`,
    `AIP|1||1210^GE^Robert^C|||${start}`,
  ].join('\r');
}

beforeAll(async () => {
  const feeds = join(mkdtempSync(join(tmpdir(), 'siu-feeds-')), 'feeds.json');
  // a synchronous feed: AA only once mapped and stored, so a refused mapping answers AE
  writeFileSync(feeds, JSON.stringify([{ application: 'SYNC', ack: 'mapped' }]));
  server = await startTestServer({}, { HL7V2_TIMEZONE: 'UTC', HL7V2_FEEDS: feeds });
  port = server.doors().find((d) => d.name === 'hl7v2')?.port as number;
}, 120_000);

afterAll(async () => {
  await server?.close();
});

describe('SIU^S12 and double booking', () => {
  it('accepts an appointment, refuses an overlapping one for the same patient with AE, accepts a touching one', async () => {
    const c = await RawMllpClient.connect(port);
    try {
      c.send(siuS12('S-1', 'A-1', 'MRN-S1', '20310310090000', '20310310093000'));
      c.send(siuS12('S-2', 'A-2', 'MRN-S1', '20310310091500', '20310310094500'));
      c.send(siuS12('S-3', 'A-3', 'MRN-S1', '20310310093000', '20310310100000'));
      const acks = await c.waitFor(3);
      expect(acks.map((a) => segment(a, 'MSA')?.slice(1, 3))).toEqual([
        ['AA', 'S-1'],
        ['AE', 'S-2'],
        ['AA', 'S-3'],
      ]);
      expect(acks[1]).toContain('Appointment/');
    } finally {
      c.close();
    }
    const stored = resourcesOf<Appointment>((await fhir(server, 'GET', 'Appointment?date=ge2031-03-10')).body);
    expect(stored.map((a) => a.identifier?.[0]?.value).sort()).toEqual(['A-1', 'A-3']);
  });
});
