import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from '../../test/harness.ts';
import type { Tributary } from '../app.ts';

/*
 * Every kind of bad input the HTTP door can get: each must be answered with a clear OperationOutcome and the right
 * status, and the server must stay up (checked after every case).
 */

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});
afterEach(async () => {
  const health = await fetch(`${server.url}/healthz`);
  expect(health.status).toBe(200);
});

const JSON_TYPE = 'application/fhir+json';
const XML_TYPE = 'application/fhir+xml';
const NS = 'xmlns="http://hl7.org/fhir"';

interface Refusal {
  status: number;
  issue: { severity: string; code: string; diagnostics?: string; expression?: string[] };
}

/** Sends a request and returns the status and first issue of the OperationOutcome it must answer with. */
async function send(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Refusal> {
  const res = await fetch(`${server.fhirBase}/${path}`, { method, body, headers: { accept: JSON_TYPE, ...headers } });
  const outcome = await res.json();
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue[0].severity).toMatch(/error|fatal/);
  expect(outcome.issue[0].diagnostics).toBeTruthy();
  return { status: res.status, issue: outcome.issue[0] };
}

const post = (path: string, body: string, type = JSON_TYPE, headers: Record<string, string> = {}) =>
  send('POST', path, body, { 'content-type': type, ...headers });

describe('formats', () => {
  it('406 for a _format or Accept the server cannot produce', async () => {
    expect((await send('GET', 'metadata?_format=text/csv')).status).toBe(406);
    expect((await send('GET', 'metadata', undefined, { accept: 'application/pdf' })).status).toBe(406);
  });

  it('415 for a body in a media type the server does not read', async () => {
    const res = await post('Patient', 'name=x', 'text/plain');
    expect(res.status).toBe(415);
    expect(res.issue.code).toBe('not-supported');
  });
});

describe('malformed bodies', () => {
  it('400 for malformed JSON and for JSON nested absurdly deep', async () => {
    expect((await post('Patient', '{"resourceType": "Patient",')).issue.diagnostics).toMatch(/Malformed JSON/);
    const deep = `{"resourceType":"Patient","extension":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    const res = await post('Patient', deep);
    expect(res.status).toBe(400);
    expect(res.issue.diagnostics).toMatch(/nested deeper/);
  });

  it('400 for bodies that are not a resource: arrays, strings, numbers, null, nothing', async () => {
    for (const body of ['[]', '"Patient"', '42', 'null', '{}']) {
      const res = await post('Patient', body);
      expect(res.status, body).toBe(400);
    }
    expect((await send('POST', 'Patient', undefined, { 'content-type': JSON_TYPE })).status).toBe(400);
  });

  it('400 for malformed XML, XML that is not FHIR, and XML nested absurdly deep', async () => {
    expect((await post('Patient', `<Patient ${NS}><name></Patient>`, XML_TYPE)).issue.diagnostics).toMatch(
      /Malformed XML/,
    );
    expect((await post('Patient', '<Patient><active value="true"/></Patient>', XML_TYPE)).issue.diagnostics).toMatch(
      /namespace/,
    );
    const deep = `<Patient ${NS}>${'<extension url="x">'.repeat(5000)}${'</extension>'.repeat(5000)}</Patient>`;
    expect((await post('Patient', deep, XML_TYPE)).status).toBe(400);
  });

  it('400 for XML with a DTD: no external entities (XXE), no entity expansion', async () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Patient ${NS}><name><family value="&x;"/></name></Patient>`;
    const res = await post('Patient', xxe, XML_TYPE);
    expect(res.status).toBe(400);
    expect(res.issue.diagnostics).not.toContain('root:');
    const laughs = `<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Patient ${NS}><name><family value="&c;"/></name></Patient>`;
    expect((await post('Patient', laughs, XML_TYPE)).status).toBe(400);
    expect(
      (await post('Patient', `<Patient ${NS}><name><family value="&undefined;"/></name></Patient>`, XML_TYPE)).status,
    ).toBe(400);
  });

  it('413 for a body above MAX_BODY_BYTES (50 MB against the 32 MiB default)', async () => {
    const big = `{"resourceType":"Patient","name":[{"text":"${'x'.repeat(50 * 1024 * 1024)}"}]}`;
    const res = await post('Patient', big);
    expect(res.status).toBe(413);
    expect(res.issue.code).toBe('too-costly');
  });

  it('reads gzip-encoded bodies, refuses an unknown Content-Encoding (415), a corrupt one (400) and a gzip bomb (413)', async () => {
    const patient = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Zipped' }] });
    const created = await fetch(`${server.fhirBase}/Patient`, {
      method: 'POST',
      body: gzipSync(patient),
      headers: { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' },
    });
    expect(created.status).toBe(201);
    expect((await created.json()).name[0].family).toBe('Zipped');
    expect((await post('Patient', patient, JSON_TYPE, { 'content-encoding': 'zstd-x' })).status).toBe(415);
    expect(
      (await send('POST', 'Patient', 'not gzip at all', { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' }))
        .status,
    ).toBe(400);
    // 40 MiB of zeros compress to ~40 kB: the limit applies to the decoded body.
    const bomb = gzipSync(Buffer.alloc(40 * 1024 * 1024, 0x20));
    expect(
      (
        await send('POST', 'Patient', bomb as unknown as string, {
          'content-type': JSON_TYPE,
          'content-encoding': 'gzip',
        })
      ).status,
    ).toBe(413);
  });
});

describe('malformed URLs and query parameters', () => {
  it('400 for malformed percent-escapes in the path', async () => {
    for (const path of ['Patient/%E0%A4%A', '%zz', 'Patient/%', 'Patient/abc%2']) {
      const res = await send('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.issue.diagnostics).toMatch(/percent-escape/);
    }
  });

  it('query parameter names that are Object.prototype members are plain unknown parameters', async () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      expect((await fetch(`${server.fhirBase}/metadata?${name}=1`)).status, name).toBe(200);
      const search = await fetch(`${server.fhirBase}/Patient?${name}=1`);
      expect(search.status, name).toBe(200);
      expect((await search.json()).resourceType).toBe('Bundle');
      expect((await send('GET', `Patient?${name}=1`, undefined, { prefer: 'handling=strict' })).status, name).toBe(400);
    }
  });

  it('400 for NUL in query names and values, search values out of range, and NUL in If-None-Exist', async () => {
    for (const path of [
      'Patient?name=%00',
      'Patient?_id=%00',
      'Patient?_text=a%00',
      'Patient?%00=1',
      'Observation?code=%00',
      'Patient/x/_history?_since=%00',
    ]) {
      const res = await send('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.issue.diagnostics, path).toMatch(/NUL/);
    }
    for (const value of ['gt1e999999', '1e-999999', '0.1e9999999']) {
      const res = await send('GET', `RiskAssessment?probability=${value}`);
      expect(res.status, value).toBe(400);
      expect(res.issue.diagnostics).toMatch(/out of range/);
    }
    const patient = JSON.stringify({ resourceType: 'Patient' });
    for (const condition of ['name=%00', '_id=%00', 'identifier=a|%00']) {
      expect((await post('Patient', patient, JSON_TYPE, { 'if-none-exist': condition })).status, condition).toBe(400);
    }
  });

  it('400 for NUL and lone surrogates in any JSON or XML body, not only in resources written', async () => {
    const parameters =
      '{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Patient","name":[{"family":"\\u0000"}]}}]}';
    expect((await post('Patient/$validate', parameters)).status).toBe(400);
    expect((await post('_search', '_id=%00', 'application/x-www-form-urlencoded')).status).toBe(400);
    for (const bad of ['&#xD800;', '&#0;', '&#x1;', '\u0000', '\u0001']) {
      const xml = await post('Patient', `<Patient ${NS}><name><family value="a${bad}b"/></name></Patient>`, XML_TYPE);
      expect(xml.status, bad).toBe(400);
      expect(xml.issue.diagnostics, bad).toMatch(/not an XML character/);
    }
  });
});

describe('requests that do not fit the URL', () => {
  it('400 for a resourceType other than the URL type, naming resourceType', async () => {
    const res = await post(
      'Patient',
      JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'x' } }),
    );
    expect(res.status).toBe(400);
    expect(res.issue.expression).toEqual(['resourceType']);
  });

  it('404 for an unknown resource type', async () => {
    expect((await send('GET', 'Nonsense/1')).status).toBe(404);
    expect((await post('Nonsense', JSON.stringify({ resourceType: 'Nonsense' }))).status).toBe(404);
  });

  it('400 for an id in the body other than the URL id, and for an invalid id in the URL', async () => {
    const res = await send('PUT', 'Patient/abc', JSON.stringify({ resourceType: 'Patient', id: 'xyz' }), {
      'content-type': JSON_TYPE,
    });
    expect(res.status).toBe(400);
    expect(res.issue.expression).toEqual(['id']);
    expect((await send('GET', `Patient/${'x'.repeat(65)}`)).status).toBe(400);
  });

  it('405 for a method the path does not support', async () => {
    expect((await send('DELETE', 'metadata')).status).toBe(405);
  });
});

describe('invalid content', () => {
  it('400 for invalid dates and impossible days, naming the element', async () => {
    const bad = await post('Patient', JSON.stringify({ resourceType: 'Patient', birthDate: '1980-13-45' }));
    expect(bad).toMatchObject({ status: 400, issue: { expression: ['Patient.birthDate'] } });
    const noSuchDay = await post('Patient', JSON.stringify({ resourceType: 'Patient', birthDate: '2023-02-30' }));
    expect(noSuchDay).toMatchObject({ status: 400, issue: { expression: ['Patient.birthDate'] } });
    const xml = await post('Patient', `<Patient ${NS}><birthDate value="yesterday"/></Patient>`, XML_TYPE);
    expect(xml).toMatchObject({ status: 400, issue: { expression: ['Patient.birthDate'] } });
  });

  it('400 for codes outside a required value set, naming the element', async () => {
    const res = await post(
      'Observation',
      JSON.stringify({ resourceType: 'Observation', status: 'finished', code: { text: 'x' } }),
    );
    expect(res).toMatchObject({ status: 400, issue: { code: 'code-invalid', expression: ['Observation.status'] } });
  });

  it('400 for unknown elements, wrong JSON types, and an attempt at prototype pollution', async () => {
    expect(
      (await post('Patient', JSON.stringify({ resourceType: 'Patient', active: 'yes' }))).issue.expression,
    ).toEqual(['Patient.active']);
    const proto = await post('Patient', '{"resourceType":"Patient","__proto__":{"polluted":true}}');
    expect(proto.status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('422 for well-formed content that breaks the rules (cardinality, invariants)', async () => {
    const res = await post('Observation', JSON.stringify({ resourceType: 'Observation', code: { text: 'x' } }));
    expect(res).toMatchObject({ status: 422, issue: { code: 'required', expression: ['Observation.status'] } });
  });

  it('accepts a byte-order mark before JSON', async () => {
    const res = await fetch(`${server.fhirBase}/Patient`, {
      method: 'POST',
      body: `\uFEFF${JSON.stringify({ resourceType: 'Patient', active: true })}`,
      headers: { 'content-type': JSON_TYPE },
    });
    expect(res.status).toBe(201);
  });
});
