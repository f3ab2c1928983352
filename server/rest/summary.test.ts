import type { Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhir, startTestServer } from '../../test/harness.ts';
import type { Tributary } from '../app.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { parseShape, shapeResource, SUBSETTED } from '../fhir/summary.ts';

const patient = {
  resourceType: 'Patient',
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jane</div>' },
  extension: [{ url: 'http://example.org/favourite-colour', valueString: 'blue' }],
  identifier: [{ system: 'http://example.org/mrn', value: '42' }],
  active: true,
  name: [{ family: 'Doe', given: ['Jane'] }],
  gender: 'female',
  maritalStatus: { text: 'married' },
  photo: [{ contentType: 'image/png', data: 'iVBORw0KGgo=' }],
  contact: [{ name: { family: 'Roe' } }],
  communication: [{ language: { text: 'English' } }],
};

describe('shapeResource', () => {
  beforeAll(() => {
    loadDefinitions();
  });

  it('_summary=true keeps summary and mandatory elements, recursing into backbone elements', () => {
    const obs: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'bp' },
      note: [{ text: 'not a summary element' }],
      component: [{ code: { text: 'systolic' }, valueQuantity: { value: 120 }, interpretation: [{ text: 'high' }] }],
    };
    const out = shapeResource(obs, { summary: 'true' }) as any;
    expect(out.note).toBeUndefined();
    expect(out.component).toEqual([{ code: { text: 'systolic' }, valueQuantity: { value: 120 } }]);
    expect(out.status).toBe('final');
    expect(out.meta.tag).toEqual([SUBSETTED]);
    expect(obs.note).toHaveLength(1);
  });

  it('_elements accepts choice names and type-qualified names, and keeps mandatory elements', () => {
    const obs = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      valueString: 'v',
      note: [{ text: 'n' }],
    };
    expect(shapeResource(obs as Observation, { elements: ['value'] })).toEqual({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      valueString: 'v',
      meta: { tag: [SUBSETTED] },
    });
    expect((shapeResource(obs as Observation, { elements: ['Observation.note', 'Patient.name'] }) as any).note).toEqual(
      [{ text: 'n' }],
    );
  });

  it('parses the query parameters and refuses unknown or search-only values', () => {
    expect(parseShape({ _summary: ['false'] })).toBeUndefined();
    expect(parseShape({ _summary: ['text'], _elements: ['name, gender', 'birthDate'] })).toEqual({
      summary: 'text',
      elements: ['name', 'gender', 'birthDate'],
    });
    expect(() => parseShape({ _summary: ['count'] })).toThrow(/searches only/);
    expect(() => parseShape({ _summary: ['all'] })).toThrow(/Unknown _summary/);
  });
});

describe('_summary and _elements on read and vread', () => {
  let server: Tributary;
  let id: string;
  beforeAll(async () => {
    server = await startTestServer();
    id = (await fhir(server, 'POST', 'Patient', patient)).body.id;
  });
  afterAll(async () => {
    await server?.close();
  });

  const keys = (body: Record<string, unknown>) => Object.keys(body).sort();

  it('_summary=true returns the summary elements tagged SUBSETTED', async () => {
    const res = await fhir(server, 'GET', `Patient/${id}?_summary=true`);
    expect(res.status).toBe(200);
    expect(keys(res.body)).toEqual(['active', 'gender', 'id', 'identifier', 'meta', 'name', 'resourceType']);
    expect(res.body.meta.tag).toContainEqual(SUBSETTED);
    expect(res.body.meta.versionId).toBe('1');
  });

  it('_summary=text keeps text, id, meta; _summary=data drops only the text; _summary=false changes nothing', async () => {
    const text = await fhir(server, 'GET', `Patient/${id}?_summary=text`);
    expect(keys(text.body)).toEqual(['id', 'meta', 'resourceType', 'text']);
    const data = await fhir(server, 'GET', `Patient/${id}?_summary=data`);
    expect(data.body.text).toBeUndefined();
    expect(data.body.photo).toEqual(patient.photo);
    expect(data.body.meta.tag).toContainEqual(SUBSETTED);
    const full = await fhir(server, 'GET', `Patient/${id}?_summary=false`);
    expect(full.body).toMatchObject(patient);
    expect(full.body.meta.tag).toBeUndefined();
  });

  it('_elements keeps only the asked elements (plus id and meta) on read and vread, in JSON and XML', async () => {
    const res = await fhir(server, 'GET', `Patient/${id}?_elements=name,birthDate`);
    expect(keys(res.body)).toEqual(['id', 'meta', 'name', 'resourceType']);
    const v = await fhir(server, 'GET', `Patient/${id}/_history/1?_elements=gender`);
    expect(keys(v.body)).toEqual(['gender', 'id', 'meta', 'resourceType']);
    const xml = await (await fetch(`${server.fhirBase}/Patient/${id}?_elements=gender&_format=xml`)).text();
    expect(xml).toContain('<gender value="female"/>');
    expect(xml).toContain('<code value="SUBSETTED"/>');
    expect(xml).not.toContain('<name>');
  });

  it('answers 400 for _summary=count or an unknown mode on a read', async () => {
    const count = await fhir(server, 'GET', `Patient/${id}?_summary=count`);
    expect(count.status).toBe(400);
    expect(count.body.issue[0].expression).toEqual(['_summary']);
    expect((await fhir(server, 'GET', `Patient/${id}?_summary=maybe`)).status).toBe(400);
  });
});
