import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhir, startTestServer } from '../../test/harness.ts';
import type { Tributary } from '../app.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { errorsOf, statusOf, validate } from './validator.ts';

const obs = (extra: Record<string, unknown> = {}) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...extra });

/** The errors of validating a resource, as [code, first expression] pairs. */
function errors(resource: unknown): [string, string | undefined][] {
  return errorsOf(validate(resource as Resource)).map((i) => [i.code, i.expression?.[0]]);
}

describe('validate (JSON schema, then StructureDefinition rules)', () => {
  beforeAll(() => {
    loadDefinitions();
  });

  it('accepts valid resources, including primitive arrays aligned with their _name partner', () => {
    expect(errors(obs({ valueQuantity: { value: 1.5, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } }))).toEqual([]);
    expect(errors({ resourceType: 'Patient', name: [{ given: ['A', null], _given: [null, { extension: [{ url: 'http://x', valueString: 'y' }] }] }] })).toEqual([]);
  });

  it('reports structure: unknown elements, wrong JSON types, bad syntax, codes outside a required binding', () => {
    expect(errors({ resourceType: 'Patient', nickname: 'x' })).toEqual([['structure', 'Patient.nickname']]);
    expect(errors({ resourceType: 'Patient', active: 'yes' })).toEqual([['structure', 'Patient.active']]);
    expect(errors({ resourceType: 'Patient', birthDate: '2020-13-01' })).toEqual([['value', 'Patient.birthDate']]);
    expect(errors({ resourceType: 'Patient', gender: 'x' })).toEqual([['code-invalid', 'Patient.gender']]);
    expect(errors({ resourceType: 'Patient', name: [{ given: [7] }] })).toEqual([['structure', 'Patient.name[0].given[0]']]);
    expect(errors({ resourceType: 'Patient', meta: { project: 'p' } })).toEqual([['structure', 'Patient.meta.project']]);
    expect(errors({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Nope' } }] })).toEqual([
      ['structure', 'Bundle.entry[0].resource.resourceType'],
    ]);
  });

  it('reports null, empty values and days that do not exist', () => {
    expect(errors({ resourceType: 'Patient', active: null })).toEqual([['structure', 'Patient.active']]);
    expect(errors({ resourceType: 'Patient', name: [{ given: ['A', null] }] })).toEqual([['structure', 'Patient.name[0].given[1]']]);
    expect(errors({ resourceType: 'Patient', name: [] })).toEqual([['structure', 'Patient.name']]);
    expect(errors({ resourceType: 'Patient', maritalStatus: {} })).toEqual([['structure', 'Patient.maritalStatus']]);
    expect(errors({ resourceType: 'Patient', name: [{ family: '  ' }] })).toEqual([['structure', 'Patient.name[0].family']]);
    expect(errors({ resourceType: 'Patient', birthDate: '2023-02-29' })).toEqual([['value', 'Patient.birthDate']]);
    expect(errors({ resourceType: 'Patient', birthDate: '2024-02-29' })).toEqual([]);
  });

  it('reports rules: cardinality and invariants of resources, backbone elements and datatypes', () => {
    expect(errors({ resourceType: 'Observation', code: { text: 'x' } })).toEqual([['required', 'Observation.status']]);
    expect(errors(obs({ valueString: 'v', dataAbsentReason: { text: 'gone' } }))).toEqual([['invariant', 'Observation']]);
    expect(errors(obs({ referenceRange: [{ type: { text: 't' } }] }))).toEqual([['invariant', 'Observation.referenceRange[0]']]);
    expect(errors(obs({ effectivePeriod: { start: '2020-02-01', end: '2020-01-01' } }))).toEqual([['invariant', 'Observation.effectivePeriod']]);
    expect(errors(obs({ valueQuantity: { value: 1, code: 'mg' } }))).toEqual([['invariant', 'Observation.valueQuantity']]);
    // per-1 compares instants, offsets included: across a daylight-saving change the later instant may read earlier.
    expect(errors(obs({ effectivePeriod: { start: '2022-11-06T01:52:06-04:00', end: '2022-11-06T01:07:06-05:00' } }))).toEqual([]);
    expect(errors(obs({ effectivePeriod: { start: '2022-11-06T01:52:06-05:00', end: '2022-11-06T01:07:06-05:00' } }))).toEqual([
      ['invariant', 'Observation.effectivePeriod'],
    ]);
    expect(errors(obs({ subject: { reference: '#nothere' } }))).toEqual([['invariant', 'Observation.subject']]);
    expect(errors(obs({ contained: [{ resourceType: 'Patient', id: 'p' }], subject: { reference: '#p' } }))).toEqual([]);
    expect(errors({ resourceType: 'Patient', extension: [{ url: 'http://x' }] })).toEqual([['invariant', 'Patient.extension[0]']]);
    expect(errors(obs({ contained: [{ resourceType: 'Observation', code: { text: 'y' } }] }))).toEqual([['required', 'Observation.contained[0].status']]);
  });

  it('checks types the JSON schema lacks (SubscriptionStatus) with @medplum/core alone', () => {
    expect(errors({ resourceType: 'SubscriptionStatus', status: 'active', type: 'heartbeat', subscription: { reference: 'Subscription/1' } })).toEqual([]);
    expect(errors({ resourceType: 'SubscriptionStatus', type: 'heartbeat', nonsense: 1 }).map(([, path]) => path)).toContain(
      'SubscriptionStatus.nonsense',
    );
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
    expect(rule.body.issue).toEqual([expect.objectContaining({ severity: 'error', code: 'required', expression: ['Observation.status'] })]);
    const update = await fhir(server, 'PUT', 'Observation/never-made', { ...obs({ status: 'nonsense' }), id: 'never-made' });
    expect(update.status).toBe(400);
    expect((await fhir(server, 'GET', 'Observation/never-made')).status).toBe(404);
    const history = await fhir(server, 'GET', 'Observation/_history');
    expect(history.body.entry ?? []).toEqual([]);
  });

  it('accepts a valid resource', async () => {
    expect((await fhir(server, 'POST', 'Observation', obs({ valueQuantity: { value: 3 } }))).status).toBe(201);
  });

  it('VALIDATE_WRITES=off stores rule-breaking content (still refusing what is not a resource of the type)', async () => {
    const res = await fhir(unchecked, 'POST', 'Observation', { resourceType: 'Observation', code: { text: 'no status' } });
    expect(res.status).toBe(201);
    expect((await fhir(unchecked, 'GET', `Observation/${res.body.id}`)).body.code).toEqual({ text: 'no status' });
    expect((await fhir(unchecked, 'POST', 'Observation', { resourceType: 'Patient' })).status).toBe(400);
  });
});
