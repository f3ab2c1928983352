import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../server/app.ts';
import { decimalText, parseJsonKeepingDecimals } from '../server/fhir/decimals.ts';
import { loadDefinitions } from '../server/fhir/definitions.ts';
import { parseXmlResource } from '../server/http/xml.ts';
import { errorsOf, validate } from '../server/validation/validator.ts';
import { startTestServer } from './harness.ts';

/*
 * The official FHIR R4 examples: every one that is valid R4 is written with its id (PUT; POST when it has none), read
 * back and must equal the original, ignoring `meta` and server-assigned ids; JSON in/JSON out, XML in/XML out, and XML
 * read as JSON must equal the JSON example where both exist (ignoring `text` where the JSON copy lost its narrative).
 * "Valid R4" is decided by a rule, not a list: an example is skipped when the server's R4 validation (JSON schema +
 * StructureDefinition rules) finds an error, and the test then checks the server refuses it for that reason. The
 * fixtures subset runs in `npm test`; the full set runs when FHIR_TESTDATA (default ../shared/data) is present.
 */

const FIXTURES = resolve(import.meta.dirname, 'fixtures/fhir-examples');
const SHARED = resolve(
  process.env.FHIR_TESTDATA ?? resolve(import.meta.dirname, '../../shared/data'),
  'fhir-r4-examples',
);
const CONCURRENCY = 6;
const TIMEOUT = 20 * 60_000;

interface Example {
  file: string;
  format: 'json' | 'xml';
  text: string;
  resource: Resource;
}

interface Outcome {
  equal: number;
  skipped: string[];
  failures: string[];
}

function loadExamples(dir: string, format: 'json' | 'xml'): Example[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(`.${format}`))
    .sort()
    .map((file) => {
      const text = readFileSync(resolve(dir, file), 'utf8');
      const resource = (format === 'json' ? parseJsonKeepingDecimals(text) : parseXmlResource(text)) as Resource;
      return { file, format, text, resource };
    });
}

/** Why an example is not valid R4 (its first validation error), or undefined when it is. */
function invalidReason(resource: Resource): string | undefined {
  const error = errorsOf(validate(resource))[0];
  return error && `${error.code} at ${error.expression?.[0] ?? '?'}: ${error.diagnostics}`;
}

/**
 * Sorted-key JSON text of a resource. `omit` drops keys of the resource and of every resource inside it (contained,
 * Bundle entries), `omitTop` of the resource only. With `decimals`, numbers are written with the text they were read
 * with (`1.50`), except top-level ones: ChargeItem.factorOverride, Media.duration and TestReport.score are kept by
 * value only (see README, conformance notes).
 */
function canonical(resource: object, omit: string[], omitTop: string[], decimals: boolean): string {
  const write = (value: unknown, holder: object | undefined, key: string | number | undefined): string => {
    if (Array.isArray(value)) return `[${value.map((v, i) => write(v, value, i)).join(',')}]`;
    if (value && typeof value === 'object') {
      const isResource = 'resourceType' in value;
      const keys = Object.keys(value)
        .filter((k) => !(isResource && omit.includes(k)) && !(value === resource && omitTop.includes(k)))
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write((value as Record<string, unknown>)[k], value, k)}`).join(',')}}`;
    }
    if (typeof value === 'number' && decimals && holder && holder !== resource && key !== undefined)
      return decimalText(holder, key, value);
    return JSON.stringify(value);
  };
  return write(resource, undefined, undefined);
}

const MEDIA = { json: 'application/fhir+json', xml: 'application/fhir+xml' };

/** Writes an example in its own format, reads it back in that format, and describes any difference. */
async function roundTrip(server: Tributary, ex: Example): Promise<{ problem?: string; read?: Resource }> {
  const { resourceType, id } = ex.resource;
  const headers = { 'content-type': MEDIA[ex.format], accept: MEDIA.json };
  const write = await fetch(`${server.fhirBase}/${id ? `${resourceType}/${id}` : resourceType}`, {
    method: id ? 'PUT' : 'POST',
    body: ex.text,
    headers,
  });
  const written = await write.json();
  if (write.status !== 200 && write.status !== 201)
    return { problem: `write answered ${write.status}: ${JSON.stringify(written.issue?.[0])}` };
  const readUrl = `${server.fhirBase}/${resourceType}/${written.id}`;
  const read = await fetch(ex.format === 'xml' ? `${readUrl}?_format=xml` : readUrl);
  const text = await read.text();
  const back = (ex.format === 'xml' ? parseXmlResource(text) : parseJsonKeepingDecimals(text)) as Resource;
  const omitTop = id ? ['meta'] : ['meta', 'id'];
  if (canonical(back, [], omitTop, true) !== canonical(storedForm(ex.resource), [], omitTop, true))
    return { problem: 'read back differs from the original', read: back };
  return { read: back };
}

/** What the server stores for an example: the example itself, except that a requested Subscription is activated (README). */
function storedForm(resource: Resource): Resource {
  return resource.resourceType === 'Subscription' && resource.status === 'requested'
    ? { ...resource, status: 'active' }
    : resource;
}

/** Writes an invalid example and checks the server refuses it naming the same element. */
async function refusal(server: Tributary, ex: Example, reason: string): Promise<string | undefined> {
  const { resourceType, id } = ex.resource;
  const res = await fetch(`${server.fhirBase}/${id ? `${resourceType}/${id}` : resourceType}`, {
    method: id ? 'PUT' : 'POST',
    body: ex.text,
    headers: { 'content-type': MEDIA[ex.format], accept: MEDIA.json },
  });
  const outcome = (await res.json()) as OperationOutcome;
  const expected = reason.split(' at ')[1]?.split(':')[0];
  // An invalid id is refused by the URL check first, which names `id`.
  const names = expected === `${resourceType}.id` ? [expected, 'id'] : [expected];
  if (
    (res.status !== 400 && res.status !== 422) ||
    !outcome.issue?.some((i) => names.includes(i.expression?.[0] as string))
  ) {
    return `${ex.file}: not valid R4 (${reason}) but the server answered ${res.status}`;
  }
  return undefined;
}

/** Runs every example; examples sharing type/id run one after another, the rest CONCURRENCY at a time. */
async function runAll(server: Tributary, examples: Example[], twins: Map<string, Resource>): Promise<Outcome> {
  const outcome: Outcome = { equal: 0, skipped: [], failures: [] };
  const groups = new Map<string, Example[]>();
  for (const ex of examples) {
    const key = `${ex.resource.resourceType}/${ex.resource.id ?? ex.file}`;
    groups.set(key, [...(groups.get(key) ?? []), ex]);
  }
  const queue = [...groups.values()];
  const worker = async () => {
    for (let group = queue.shift(); group; group = queue.shift()) {
      for (const ex of group) {
        const reason = invalidReason(ex.resource);
        if (reason) {
          outcome.skipped.push(`${ex.file}: ${reason}`);
          const refused = await refusal(server, ex, reason);
          if (refused) outcome.failures.push(refused);
          continue;
        }
        const { problem, read } = await roundTrip(server, ex);
        const twin = twins.get(ex.file.replace(/\.xml$/, '.json'));
        if (problem) outcome.failures.push(`${ex.file}: ${problem}`);
        else if (ex.format === 'xml' && twin && read && !sameAsJsonTwin(read, twin))
          outcome.failures.push(`${ex.file}: XML read as JSON differs from the JSON example`);
        else outcome.equal++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return outcome;
}

/**
 * XML read as JSON vs the JSON example, ignoring `meta` and the narrative (`text`) of every resource in it (the JSON
 * copies lost most narratives and some meta), and comparing decimals by value (they were re-serialised: `1.00` → 1.0).
 * The XML-in/XML-out comparison covers narrative and decimal text.
 */
function sameAsJsonTwin(fromXml: Resource, json: Resource): boolean {
  const omitTop = json.id === undefined ? ['id'] : [];
  return (
    canonical(fromXml, ['meta', 'text'], omitTop, false) ===
    canonical(storedForm(json), ['meta', 'text'], omitTop, false)
  );
}

function report(label: string, total: number, o: Outcome): void {
  console.log(
    `${label}: ${total} examples, ${o.equal} round-tripped equal, ${o.skipped.length} skipped as not valid R4, ${o.failures.length} failures`,
  );
  for (const s of o.skipped) console.log(`  skipped ${s}`);
  for (const f of o.failures.slice(0, 50)) console.log(`  FAILED ${f}`);
}

const sets = [
  { name: 'fixtures subset', json: resolve(FIXTURES, 'json'), xml: resolve(FIXTURES, 'xml'), present: true },
  {
    name: 'full R4 example set',
    json: resolve(SHARED, 'fhir_models-json'),
    xml: resolve(SHARED, 'fhir_models-xml'),
    present: existsSync(SHARED),
  },
];

describe.each(sets)('FHIR R4 examples round-trip: $name', ({ name, json, xml, present }) => {
  let server: Tributary;
  let jsonExamples: Example[];
  let twins: Map<string, Resource>;
  beforeAll(async () => {
    if (!present) return;
    loadDefinitions();
    jsonExamples = loadExamples(json, 'json');
    twins = new Map(jsonExamples.map((ex) => [ex.file, ex.resource]));
    server = await startTestServer({}, { LOG_LEVEL: 'silent' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it.skipIf(!present)(
    'JSON examples: valid ones are created with their id and read back equal; invalid ones are refused',
    async () => {
      const outcome = await runAll(server, jsonExamples, twins);
      report(`${name} JSON`, jsonExamples.length, outcome);
      expect(outcome.failures).toEqual([]);
      expect(outcome.equal).toBeGreaterThan(0);
      expect(outcome.skipped.length).toBeLessThanOrEqual(Math.ceil(jsonExamples.length * 0.02));
    },
    TIMEOUT,
  );

  it.skipIf(!present)(
    'XML examples: XML in, XML out, and equal to the JSON example where both exist',
    async () => {
      const xmlExamples = loadExamples(xml, 'xml');
      const outcome = await runAll(server, xmlExamples, twins);
      report(`${name} XML`, xmlExamples.length, outcome);
      expect(outcome.failures).toEqual([]);
      expect(outcome.equal).toBe(xmlExamples.length - outcome.skipped.length);
      expect(outcome.skipped.length).toBeLessThanOrEqual(Math.ceil(xmlExamples.length * 0.02));
    },
    TIMEOUT,
  );
});
