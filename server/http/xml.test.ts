import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhir, startTestServer } from '../../test/harness.ts';
import type { Tributary } from '../app.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { OutcomeError } from '../fhir/outcomes.ts';
import { parseXmlResource, toXml } from './xml.ts';

const NS = 'xmlns="http://hl7.org/fhir"';

function refused(xml: string): OutcomeError {
  try {
    parseXmlResource(xml);
  } catch (err) {
    if (err instanceof OutcomeError) return err;
    throw err;
  }
  throw new Error('expected the XML to be refused');
}

describe('FHIR XML mapping', () => {
  beforeAll(() => {
    loadDefinitions();
  });

  it('maps arrays by cardinality, choice types, booleans, integers and nested backbone elements', () => {
    const r = parseXmlResource(`<Patient ${NS}>
      <id value="p1"/>
      <active value="true"/>
      <name><family value="Chalmers"/><given value="Peter"/><given value="James"/></name>
      <deceasedBoolean value="false"/>
      <multipleBirthInteger value="2"/>
      <contact><name><family value="Du Marché"/></name></contact>
    </Patient>`);
    expect(r).toEqual({
      resourceType: 'Patient',
      id: 'p1',
      active: true,
      name: [{ family: 'Chalmers', given: ['Peter', 'James'] }],
      deceasedBoolean: false,
      multipleBirthInteger: 2,
      contact: [{ name: { family: 'Du Marché' } }],
    });
  });

  it('puts id and extensions of primitives into _name, aligned with nulls in arrays', () => {
    const r = parseXmlResource(`<Patient ${NS}>
      <birthDate id="bd" value="1974-12-25"><extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime"><valueDateTime value="1974-12-25T14:35:45-05:00"/></extension></birthDate>
      <name><given value="A"/><given><extension url="http://example.org/x"><valueString value="no value"/></extension></given></name>
    </Patient>`) as any;
    expect(r.birthDate).toBe('1974-12-25');
    expect(r._birthDate).toEqual({
      id: 'bd',
      extension: [
        {
          url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime',
          valueDateTime: '1974-12-25T14:35:45-05:00',
        },
      ],
    });
    expect(r.name[0].given).toEqual(['A', null]);
    expect(r.name[0]._given).toEqual([null, { extension: [{ url: 'http://example.org/x', valueString: 'no value' }] }]);
    const xml = toXml(r, false);
    expect(xml).toContain(
      '<birthDate id="bd" value="1974-12-25"><extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime">',
    );
    expect(xml).toContain('<given value="A"/><given><extension url="http://example.org/x">');
    expect(parseXmlResource(xml)).toEqual(r);
  });

  it('keeps the narrative as XHTML markup and writes it back verbatim', () => {
    const div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hi &amp; <b>bye</b> &lt;3</p><div>nested</div></div>';
    const r = parseXmlResource(`<Patient ${NS}><text><status value="generated"/>${div}</text></Patient>`) as any;
    expect(r.text).toEqual({ status: 'generated', div });
    expect(toXml(r, false)).toBe(`<Patient ${NS}><text><status value="generated"/>${div}</text></Patient>`);
  });

  it('reads and writes contained resources and resources inside Bundle entries and Parameters', () => {
    const bundle = parseXmlResource(`<Bundle ${NS}><type value="collection"/>
      <entry><fullUrl value="urn:uuid:1"/><resource><Observation><status value="final"/><code><text value="t"/></code>
        <contained><Patient><id value="c1"/></Patient></contained><subject><reference value="#c1"/></subject>
      </Observation></resource></entry></Bundle>`) as any;
    expect(bundle.entry[0].resource).toEqual({
      resourceType: 'Observation',
      contained: [{ resourceType: 'Patient', id: 'c1' }],
      status: 'final',
      code: { text: 't' },
      subject: { reference: '#c1' },
    });
    const params = {
      resourceType: 'Parameters',
      parameter: [{ name: 'resource', resource: { resourceType: 'Patient', active: true } }],
    };
    const xml = toXml(params as Resource, false);
    expect(xml).toBe(
      `<Parameters ${NS}><parameter><name value="resource"/><resource><Patient><active value="true"/></Patient></resource></parameter></Parameters>`,
    );
    expect(parseXmlResource(xml)).toEqual(params);
  });

  it('keeps decimal precision from XML to JSON text and back', () => {
    const r = parseXmlResource(`<Observation ${NS}><status value="final"/><code><text value="w"/></code>
      <valueQuantity><value value="72.50"/><unit value="kg"/></valueQuantity></Observation>`);
    expect(JSON.stringify(r)).toContain('"value":72.50');
    expect(toXml(r, false)).toContain('<value value="72.50"/>');
    expect(toXml(JSON.parse(JSON.stringify(r)), false)).toContain('<value value="72.5"/>');
  });

  it('writes elements in definition order whatever the JSON order, and indents with pretty', () => {
    const xml = toXml(
      { resourceType: 'Patient', gender: 'male', id: 'x', name: [{ given: ['A'], family: 'B' }] } as Resource,
      true,
    );
    expect(xml).toBe(
      [
        `<Patient ${NS}>`,
        '  <id value="x"/>',
        '  <name>',
        '    <family value="B"/>',
        '    <given value="A"/>',
        '  </name>',
        '  <gender value="male"/>',
        '</Patient>',
        '',
      ].join('\n'),
    );
  });

  it('escapes attribute values, including line breaks, and reads them back', () => {
    const r = { resourceType: 'Patient', name: [{ text: 'a "b" & <c>\nline\ttab' }] } as Resource;
    const xml = toXml(r, false);
    expect(xml).toContain('value="a &quot;b&quot; &amp; &lt;c&gt;&#xA;line&#x9;tab"');
    expect(parseXmlResource(xml)).toEqual(r);
  });

  it('ignores namespace declarations and schema location hints', () => {
    const r = parseXmlResource(
      `<Patient ${NS} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://hl7.org/fhir fhir-all.xsd"><active value="true"/></Patient>`,
    );
    expect(r).toEqual({ resourceType: 'Patient', active: true });
  });

  it('refuses what is not FHIR XML, naming the element', () => {
    expect(refused(`<Patient ${NS}><nickname value="x"/></Patient>`).outcome.issue?.[0].expression).toEqual([
      'Patient.nickname',
    ]);
    expect(refused(`<Patient ${NS}><gender value="male"/><gender value="female"/></Patient>`).message).toMatch(
      /repeated/,
    );
    expect(refused(`<Patient ${NS}><active value="yes"/></Patient>`).outcome.issue?.[0].expression).toEqual([
      'Patient.active',
    ]);
    expect(refused(`<Patient ${NS}><active value="true" color="red"/></Patient>`).message).toMatch(
      /Unexpected attribute "color"/,
    );
    expect(refused('<Patient><active value="true"/></Patient>').message).toMatch(/namespace/);
    expect(refused(`<Nonsense ${NS}/>`).message).toMatch(/Unknown resource type/);
    expect(refused(`<Patient ${NS}><active value="true"></Patient>`).message).toMatch(/Malformed XML/);
    expect(refused(`<Patient ${NS}><name>text</name></Patient>`).message).toMatch(/Unexpected text/);
    expect(refused(`<Patient ${NS}><name><family value="&nbsp;"/></name></Patient>`).message).toMatch(
      /undefined entity/,
    );
    const xxe = `<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><Patient ${NS}><name><family value="&x;"/></name></Patient>`;
    expect(refused(xxe).status).toBe(400);
    expect(refused(xxe).message).toMatch(/DOCTYPE/);
  });
});

describe('XML over HTTP', () => {
  let server: Tributary;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  async function send(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.fhirBase}/${path}`, { method, body, headers });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  }

  it('creates from an XML body and answers in XML by Accept or _format, JSON by default', async () => {
    const xml = `<Patient ${NS}><name><family value="Xml"/></name><birthDate value="2001-02-03"/></Patient>`;
    const created = await send('POST', 'Patient', xml, {
      'content-type': 'application/fhir+xml',
      accept: 'application/fhir+xml',
    });
    expect(created.status).toBe(201);
    expect(created.type).toContain('application/fhir+xml');
    const id = /<id value="([^"]+)"\/>/.exec(created.text)?.[1];
    expect(id).toBeTruthy();

    const json = await fhir(server, 'GET', `Patient/${id}`);
    expect(json.body).toMatchObject({ resourceType: 'Patient', name: [{ family: 'Xml' }], birthDate: '2001-02-03' });

    const byFormat = await send('GET', `Patient/${id}?_format=xml`);
    expect(byFormat.type).toContain('application/fhir+xml');
    expect(byFormat.text).toContain('<family value="Xml"/>');
    expect(parseXmlResource(byFormat.text)).toEqual(json.body);

    const unescaped = await send('GET', `Patient/${id}?_format=application/fhir+xml`);
    expect(unescaped.type).toContain('application/fhir+xml');
    const pretty = await send('GET', `Patient/${id}?_format=application/fhir%2Bxml&_pretty=true`);
    expect(pretty.text).toContain('\n  <name>\n    <family value="Xml"/>\n');
    const prettyJson = await send('GET', `Patient/${id}?_pretty=true`);
    expect(prettyJson.text).toContain('\n  "name": [');
  });

  it('sends errors as XML OperationOutcomes when XML was asked for', async () => {
    const res = await send('POST', 'Patient', `<Patient ${NS}><bogus value="1"/></Patient>`, {
      'content-type': 'application/fhir+xml',
      accept: 'application/fhir+xml',
    });
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/^<OperationOutcome xmlns="http:\/\/hl7.org\/fhir">/);
    expect(parseXmlResource(res.text)).toMatchObject({ issue: [{ severity: 'error', expression: ['Patient.bogus'] }] });
  });

  it('validates XML with $validate', async () => {
    const res = await send('POST', 'Patient/$validate', `<Patient ${NS}><gender value="robot"/></Patient>`, {
      'content-type': 'application/fhir+xml',
      accept: 'application/fhir+xml',
    });
    expect(res.status).toBe(200);
    expect(parseXmlResource(res.text)).toMatchObject({
      issue: [{ severity: 'error', code: 'code-invalid', expression: ['Patient.gender'] }],
    });
  });

  it('keeps decimal precision from an XML write to JSON and XML reads', async () => {
    const xml = `<Observation ${NS}><status value="final"/><code><text value="weight"/></code><valueQuantity><value value="72.50"/></valueQuantity></Observation>`;
    const created = await send('POST', 'Observation', xml, { 'content-type': 'application/fhir+xml' });
    expect(created.status).toBe(201);
    const id = JSON.parse(created.text).id;
    expect((await send('GET', `Observation/${id}`)).text).toContain('"value":72.50');
    expect((await send('GET', `Observation/${id}?_format=xml`)).text).toContain('<value value="72.50"/>');
  });
});
