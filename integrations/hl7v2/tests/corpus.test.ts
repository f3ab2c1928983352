import type { Bundle } from '@medplum/fhirtypes';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../../server/app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { Feeds } from '../feeds.ts';
import { mapMessage, mapsType } from '../map/index.ts';
import { splitPayload } from '../parse/batch.ts';
import { decodePayload } from '../parse/decode.ts';
import { V2Message, V2ParseError } from '../parse/message.ts';
import { compare, table, type Agreement } from './agreement.ts';

/**
 * The HL7 v2 corpus: the project's fixtures always, and the shared set (~300 real messages with a vendor's expected
 * Bundles) when FHIR_TESTDATA has it. Every message parses (or is refused with a V2ParseError, never a crash); every
 * message of a type the door maps either maps to a transaction the server accepts as it is, or is refused with a
 * mapping error naming the place; the vendor's expected Bundles are compared field by field (reported, with floors).
 */
const FIXTURES = join(import.meta.dirname, 'fixtures');
const SHARED = join(process.env.FHIR_TESTDATA ?? join(import.meta.dirname, '../../../../shared/data'), 'hl7v2');
const roots = [FIXTURES, ...(existsSync(SHARED) ? [SHARED] : [])];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'expected-fhir' ? [] : files(p);
    return /\.(hl7|txt)$/.test(f) && !/LICENSE|SOURCES/i.test(f) ? [p] : [];
  });
}

function expectedFor(root: string, file: string): Bundle | undefined {
  const dir = join(root, 'ms-fhir-converter', 'expected-fhir');
  if (!existsSync(dir)) return undefined;
  const name = `${basename(file).replace(/\.hl7$/, '')}-expected.json`;
  for (const d of readdirSync(dir))
    if (existsSync(join(dir, d, name))) return JSON.parse(readFileSync(join(dir, d, name), 'utf8'));
  return undefined;
}

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe.each(roots)('HL7 v2 corpus %s', (root) => {
  it(
    'parses every message, maps every mappable one to a transaction the server accepts, and agrees with the expected Bundles',
    { timeout: 600_000 },
    async () => {
      const feeds = new Feeds([], { timeZone: 'UTC' });
      const tally: Agreement = new Map();
      const stats = { files: 0, messages: 0, refusedParse: 0, mappable: 0, mapped: 0, refusedMap: 0, accepted: 0 };
      const rejected: string[] = [];
      for (const file of files(root)) {
        stats.files++;
        const bytes = readFileSync(file);
        let text: string;
        let charset: string;
        try {
          ({ text, charset } = decodePayload(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(V2ParseError);
          stats.refusedParse++;
          continue;
        }
        const messages = splitPayload(text).messages;
        for (const [n, t] of messages.entries()) {
          stats.messages++;
          let message: V2Message;
          try {
            message = V2Message.parse(t, charset);
            void message.segments.map((s) => s.field(3).get(1)); // every segment is reachable
          } catch (err) {
            expect(err).toBeInstanceOf(V2ParseError);
            stats.refusedParse++;
            continue;
          }
          if (!mapsType(message.type)) continue;
          stats.mappable++;
          let bundle: Bundle;
          try {
            bundle = await mapMessage(message, { feed: feeds.match('*', '*'), raw: bytes, key: `${file}#${n}` });
            stats.mapped++;
          } catch (err) {
            expect((err as { status?: number }).status).toBe(422);
            stats.refusedMap++;
            continue;
          }
          const res = await fhir(server, 'POST', '', bundle);
          if (res.status === 200) stats.accepted++;
          else rejected.push(`${file}#${n} ${message.type}: ${res.status} ${res.body?.issue?.[0]?.diagnostics}`);
          const expected = n === 0 ? expectedFor(root, file) : undefined;
          if (expected) compare(expected, bundle, tally);
        }
      }
      console.log(`${root}\n${JSON.stringify(stats)}\n${table(tally)}`);
      expect(rejected).toEqual([]);
      expect(stats.accepted).toBe(stats.mapped);
      expect(stats.mapped).toBeGreaterThan(0);
    },
  );
});
