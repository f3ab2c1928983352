import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhir, startTestServer } from '../../test/harness.ts';
import type { Tributary } from '../app.ts';
import { parseJsonKeepingDecimals } from '../fhir/decimals.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { errorsOf, statusOf, validate } from './validator.ts';

const obs = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'x' },
  ...extra,
});

/** The errors of validating a resource, as [code, first expression] pairs. */
function errors(resource: unknown): [string, string | undefined][] {
  return errorsOf(validate(resource as Resource)).map((i) => [i.code, i.expression?.[0]]);
}

describe('validate (JSON schema, then StructureDefinition rules)', () => {
  beforeAll(() => {
    loadDefinitions();
  });

  it('accepts valid resources, including primitive arrays aligned with their _name partner', () => {
    expect(
      errors(obs({ valueQuantity: { value: 1.5, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } })),
    ).toEqual([]);
    expect(
      errors({
        resourceType: 'Patient',
        name: [{ given: ['A', null], _given: [null, { extension: [{ url: 'http://x', valueString: 'y' }] }] }],
      }),
    ).toEqual([]);
  });

  it('reports structure: unknown elements, wrong JSON types, bad syntax, codes outside a required binding', () => {
    expect(errors({ resourceType: 'Patient', nickname: 'x' })).toEqual([['structure', 'Patient.nickname']]);
    expect(errors({ resourceType: 'Patient', active: 'yes' })).toEqual([['structure', 'Patient.active']]);
    expect(errors({ resourceType: 'Patient', birthDate: '2020-13-01' })).toEqual([['value', 'Patient.birthDate']]);
    expect(errors({ resourceType: 'Patient', gender: 'x' })).toEqual([['code-invalid', 'Patient.gender']]);
    expect(errors({ resourceType: 'Patient', name: [{ given: [7] }] })).toEqual([
      ['structure', 'Patient.name[0].given[0]'],
    ]);
    expect(errors({ resourceType: 'Patient', meta: { project: 'p' } })).toEqual([
      ['structure', 'Patient.meta.project'],
    ]);
    expect(
      errors({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Nope' } }] }),
    ).toEqual([['structure', 'Bundle.entry[0].resource.resourceType']]);
  });

  it('reports null, empty values and days that do not exist', () => {
    expect(errors({ resourceType: 'Patient', active: null })).toEqual([['structure', 'Patient.active']]);
    expect(errors({ resourceType: 'Patient', name: [{ given: ['A', null] }] })).toEqual([
      ['structure', 'Patient.name[0].given[1]'],
    ]);
    expect(errors({ resourceType: 'Patient', name: [] })).toEqual([['structure', 'Patient.name']]);
    expect(errors({ resourceType: 'Patient', maritalStatus: {} })).toEqual([['structure', 'Patient.maritalStatus']]);
    expect(errors({ resourceType: 'Patient', name: [{ family: '  ' }] })).toEqual([
      ['structure', 'Patient.name[0].family'],
    ]);
    expect(errors({ resourceType: 'Patient', birthDate: '2023-02-29' })).toEqual([['value', 'Patient.birthDate']]);
    expect(errors({ resourceType: 'Patient', birthDate: '2024-02-29' })).toEqual([]);
  });

  it('reports a string, number, boolean or array where a complex type belongs, and nulls as nulls', () => {
    const found = (resource: unknown) => errorsOf(validate(resource as Resource)).map((i) => i.diagnostics);
    expect(errors({ resourceType: 'Patient', maritalStatus: 5 })).toEqual([['structure', 'Patient.maritalStatus']]);
    expect(found({ resourceType: 'Patient', meta: 'x' })).toEqual(['Expected object but found string']);
    expect(found({ resourceType: 'Patient', text: true })).toEqual(['Expected object but found boolean']);
    expect(found({ resourceType: 'Patient', meta: [1] })).toEqual(['Expected object but found array']);
    expect(errors({ resourceType: 'Patient', name: ['Doe'] })).toEqual([['structure', 'Patient.name[0]']]);
    expect(found({ resourceType: 'Patient', meta: null })).toEqual(['Null values are not allowed']);
    expect(errors({ resourceType: 'Patient', meta: null })).toEqual([['structure', 'Patient.meta']]);
  });

  it('reports rules: cardinality and invariants of resources, backbone elements and datatypes', () => {
    expect(errors({ resourceType: 'Observation', code: { text: 'x' } })).toEqual([['required', 'Observation.status']]);
    expect(errors(obs({ valueString: 'v', dataAbsentReason: { text: 'gone' } }))).toEqual([
      ['invariant', 'Observation'],
    ]);
    expect(errors(obs({ referenceRange: [{ type: { text: 't' } }] }))).toEqual([
      ['invariant', 'Observation.referenceRange[0]'],
    ]);
    expect(errors(obs({ effectivePeriod: { start: '2020-02-01', end: '2020-01-01' } }))).toEqual([
      ['invariant', 'Observation.effectivePeriod'],
    ]);
    expect(errors(obs({ valueQuantity: { value: 1, code: 'mg' } }))).toEqual([
      ['invariant', 'Observation.valueQuantity'],
    ]);
    // per-1 compares instants, offsets included: across a daylight-saving change the later instant may read earlier.
    expect(
      errors(obs({ effectivePeriod: { start: '2022-11-06T01:52:06-04:00', end: '2022-11-06T01:07:06-05:00' } })),
    ).toEqual([]);
    expect(
      errors(obs({ effectivePeriod: { start: '2022-11-06T01:52:06-05:00', end: '2022-11-06T01:07:06-05:00' } })),
    ).toEqual([['invariant', 'Observation.effectivePeriod']]);
    expect(errors(obs({ subject: { reference: '#nothere' } }))).toEqual([['invariant', 'Observation.subject']]);
    expect(errors(obs({ contained: [{ resourceType: 'Patient', id: 'p' }], subject: { reference: '#p' } }))).toEqual(
      [],
    );
    expect(errors({ resourceType: 'Patient', extension: [{ url: 'http://x' }] })).toEqual([
      ['invariant', 'Patient.extension[0]'],
    ]);
    expect(errors(obs({ contained: [{ resourceType: 'Observation', code: { text: 'y' } }] }))).toEqual([
      ['required', 'Observation.contained[0].status'],
    ]);
  });

  it('reports integers that are not 32-bit integers, judged on their text (1.5, 1.0, 1e3, 99999999999999999999)', () => {
    const patient = (birth: string) =>
      errors(parseJsonKeepingDecimals(`{"resourceType":"Patient","multipleBirthInteger":${birth}}`));
    for (const bad of ['1.5', '1.0', '1e3', '99999999999999999999', '2147483648', '-2147483649']) {
      expect(patient(bad), bad).toEqual([['value', 'Patient.multipleBirthInteger']]);
    }
    for (const fine of ['0', '-2147483648', '2147483647']) expect(patient(fine), fine).toEqual([]);
    expect(
      errors({ resourceType: 'Patient', contact: [{ telecom: [{ system: 'phone', value: 'x', rank: 0 }] }] }),
    ).toEqual([['value', 'Patient.contact[0].telecom[0].rank']]);
    expect(errors({ resourceType: 'Patient', photo: [{ size: -1 }] })).toEqual([['value', 'Patient.photo[0].size']]);
  });

  it('reports strings with NUL or lone surrogates and numbers no decimal can be, before anything else', () => {
    expect(errors({ resourceType: 'Patient', name: [{ family: 'a\u0000b' }] })).toEqual([
      ['value', 'Patient.name[0].family'],
    ]);
    expect(errors({ resourceType: 'Patient', name: [{ given: ['\ud800'] }] })).toEqual([
      ['value', 'Patient.name[0].given[0]'],
    ]);
    expect(
      errors(
        parseJsonKeepingDecimals(
          '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":0.1e9999999}}',
        ),
      ),
    ).toEqual([['value', 'Observation.valueQuantity.value']]);
  });

  it('checks the narrative: well-formed XHTML in a div (400), txt-1 (allowed elements, attributes, no script URLs) and txt-2 (content) (422)', () => {
    const narrative = (div: string) => errors({ resourceType: 'Patient', text: { status: 'generated', div } });
    const xhtml = (inner: string, attrs = '') => `<div xmlns="http://www.w3.org/1999/xhtml"${attrs}>${inner}</div>`;
    expect(
      narrative(
        xhtml(
          '<p>Jane <b>Doe</b></p><table><tbody><tr><td colspan="2">x</td></tr></tbody></table><a href="https://example.org/a">link</a><img src="#pic" alt="p"/>',
        ),
      ),
    ).toEqual([]);
    expect(narrative(xhtml('Generated by <a href="urn:uuid:8c3d">Synthea</a>.<br/><ul><li>one</li></ul>'))).toEqual([]);
    for (const bad of [
      xhtml('<script>alert(1)</script>'),
      xhtml('<img src="x" onerror="alert(1)"/>'),
      xhtml('<a href="javascript:alert(1)">x</a>'),
      xhtml('<a href=" JaVa&#x09;Script:alert(1)">x</a>'),
      xhtml('<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</a>'),
      xhtml('<iframe src="https://example.org">x</iframe>'),
      xhtml('<form>x<input name="x"/></form>'),
      xhtml('<p style="background: url(javascript:alert(1))">x</p>'),
      xhtml('text', ' onclick="alert(1)"'),
    ]) {
      expect(narrative(bad), bad).toEqual([['invariant', 'Patient.text.div']]);
    }
    expect(
      errorsOf(
        validate({
          resourceType: 'Patient',
          text: { status: 'generated', div: xhtml('<script>x</script>') },
        } as Resource),
      )[0].diagnostics,
    ).toMatch(/txt-1.*<script>/);
    expect(narrative(xhtml('  <p> </p> '))).toEqual([['invariant', 'Patient.text.div']]); // txt-2
    expect(narrative(xhtml('<img src="data:image/png;base64,iVBORw0KGgo="/>'))).toEqual([]);
    for (const malformed of [
      '<div xmlns="http://www.w3.org/1999/xhtml"><p>open</div>',
      '<div>no namespace</div>',
      '<p xmlns="http://www.w3.org/1999/xhtml">x</p>',
      'just text',
    ]) {
      expect(narrative(malformed), malformed).toEqual([['structure', 'Patient.text.div']]);
    }
  });

  it('checks types the JSON schema lacks (SubscriptionStatus) with @medplum/core alone', () => {
    expect(
      errors({
        resourceType: 'SubscriptionStatus',
        status: 'active',
        type: 'heartbeat',
        subscription: { reference: 'Subscription/1' },
      }),
    ).toEqual([]);
    expect(
      errors({ resourceType: 'SubscriptionStatus', type: 'heartbeat', nonsense: 1 }).map(([, path]) => path),
    ).toContain('SubscriptionStatus.nonsense');
  });

  it('maps malformed content to 400 and broken rules to 422', () => {
    expect(statusOf(errorsOf(validate({ resourceType: 'Patient', active: 'yes' } as unknown as Resource)))).toBe(400);
    expect(statusOf(errorsOf(validate({ resourceType: 'Observation', code: { text: 'x' } } as Resource)))).toBe(422);
  });
});

describe('validation on every write', () => {
  let server: Tributary;
  let unchecked: Tributary;
  beforeAll(async () => {
    [server, unchecked] = await Promise.all([startTestServer(), startTestServer({}, { VALIDATE_WRITES: 'off' })]);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), unchecked?.close()]);
  });

  it('refuses structural errors with 400 and rule violations with 422, naming the element, writing nothing', async () => {
    const bad = await fhir(server, 'POST', 'Observation', obs({ valueBoolean: 'maybe' }));
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].expression).toEqual(['Observation.valueBoolean']);
    const rule = await fhir(server, 'POST', 'Observation', { resourceType: 'Observation', code: { text: 'x' } });
    expect(rule.status).toBe(422);
    expect(rule.body.issue).toEqual([
      expect.objectContaining({ severity: 'error', code: 'required', expression: ['Observation.status'] }),
    ]);
    const update = await fhir(server, 'PUT', 'Observation/never-made', {
      ...obs({ status: 'nonsense' }),
      id: 'never-made',
    });
    expect(update.status).toBe(400);
    expect((await fhir(server, 'GET', 'Observation/never-made')).status).toBe(404);
    const history = await fhir(server, 'GET', 'Observation/_history');
    expect(history.body.entry ?? []).toEqual([]);
  });

  it('accepts a valid resource', async () => {
    expect((await fhir(server, 'POST', 'Observation', obs({ valueQuantity: { value: 3 } }))).status).toBe(201);
  });

  it('refuses NUL, lone surrogates and numbers out of range even with VALIDATE_WRITES=off; full-text search keeps working', async () => {
    for (const target of [server, unchecked]) {
      for (const body of [
        '{"resourceType":"Patient","name":[{"family":"a\\u0000b"}]}',
        '{"resourceType":"Patient","name":[{"family":"\\ud800"}]}',
        '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e999999}}',
      ]) {
        const type = body.includes('Observation') ? 'Observation' : 'Patient';
        const res = await fhir(target, 'POST', type, body);
        expect(res.status, body).toBe(400);
        expect(res.body.issue[0].code).toBe('value');
      }
      expect((await fhir(target, 'GET', 'Patient?_text=anything')).status).toBe(200);
      expect((await fhir(target, 'GET', 'Observation?_text=anything')).status).toBe(200);
    }
  });

  it('VALIDATE_WRITES=off stores rule-breaking content (still refusing what is not a resource of the type)', async () => {
    const res = await fhir(unchecked, 'POST', 'Observation', {
      resourceType: 'Observation',
      code: { text: 'no status' },
    });
    expect(res.status).toBe(201);
    expect((await fhir(unchecked, 'GET', `Observation/${res.body.id}`)).body.code).toEqual({ text: 'no status' });
    expect((await fhir(unchecked, 'POST', 'Observation', { resourceType: 'Patient' })).status).toBe(400);
  });
});
