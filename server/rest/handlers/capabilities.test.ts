import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhir, startTestServer } from '../../../test/harness.ts';
import type { Tributary } from '../../app.ts';
import { loadDefinitions } from '../../fhir/definitions.ts';
import { parseXmlResource } from '../../http/xml.ts';
import { errorsOf, validate } from '../../validation/validator.ts';
import { FhirRouter } from '../../core/router.ts';
import type { FhirHandler } from '../../core/types.ts';
import { capabilityStatement } from './capabilities.ts';

const noop: FhirHandler = async () => ({ status: 200 });
const entry = (cs: CapabilityStatement, type: string) =>
  cs.rest?.[0].resource?.find((r) => r.type === type) as CapabilityStatementRestResource;
const codes = (r: { interaction?: { code: string }[] }) => (r.interaction ?? []).map((i) => i.code).sort();

describe('GET /metadata', () => {
  let server: Tributary;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is a valid R4 CapabilityStatement describing what the routes do, for every resource type', async () => {
    const res = await fhir(server, 'GET', 'metadata');
    expect(res.status).toBe(200);
    const cs = res.body as CapabilityStatement;
    expect(errorsOf(validate(cs))).toEqual([]);
    expect(cs).toMatchObject({ kind: 'instance', fhirVersion: '4.0.1', implementation: { url: server.fhirBase } });
    expect(cs.format).toEqual(expect.arrayContaining(['application/fhir+json', 'application/fhir+xml']));
    expect(cs.rest?.[0].resource).toHaveLength(loadDefinitions().resourceTypes.length);

    const routes = server.router.listRoutes();
    const patient = entry(cs, 'Patient');
    const has = (interaction: string) =>
      routes.some((r) => r.interaction === interaction && r.pattern.startsWith(':type'));
    for (const code of [
      'read',
      'vread',
      'update',
      'patch',
      'delete',
      'create',
      'search-type',
      'history-instance',
      'history-type',
    ]) {
      expect(codes(patient).includes(code), code).toBe(has(code));
    }
    expect(patient).toMatchObject({
      readHistory: true,
      updateCreate: true,
      versioning: 'versioned-update',
      conditionalCreate: true,
    });
    expect(patient.conditionalUpdate).toBe(has('conditional-update') || undefined);
    expect(patient.conditionalDelete).toBe(has('conditional-delete') ? 'single' : undefined);
    expect(patient.operation).toContainEqual({
      name: 'validate',
      definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
    });
    expect(codes(cs.rest?.[0] ?? {})).toContain('history-system');
    expect(cs.patchFormat !== undefined).toBe(routes.some((r) => r.method === 'PATCH'));
  });

  it('answers in XML too', async () => {
    const res = await fetch(`${server.fhirBase}/metadata?_format=xml`);
    expect(res.headers.get('content-type')).toContain('application/fhir+xml');
    const fromXml = parseXmlResource(await res.text());
    const json = (await fhir(server, 'GET', 'metadata')).body;
    expect(fromXml).toEqual(json);
  });
});

describe('capabilityStatement', () => {
  beforeAll(() => {
    loadDefinitions();
  });

  it('advertises nothing a route does not provide', () => {
    const router = new FhirRouter().add('GET', ':type/:id', 'read', noop, 'interaction');
    const cs = capabilityStatement(router, 'http://x/fhir');
    expect(codes(entry(cs, 'Observation'))).toEqual(['read']);
    expect(entry(cs, 'Observation')).toMatchObject({ versioning: 'versioned', conditionalRead: 'full-support' });
    expect(entry(cs, 'Observation').conditionalCreate).toBeUndefined();
    expect(entry(cs, 'Observation').operation).toBeUndefined();
    expect(cs.rest?.[0].interaction).toBeUndefined();
    expect(cs.patchFormat).toBeUndefined();
  });

  it('takes search parameters, security and operation definitions from the modules that provide them', () => {
    const router = new FhirRouter()
      .add('GET', ':type', 'search-type', noop, 'interaction')
      .add('POST', '', 'transaction', noop, 'interaction')
      .add('PATCH', ':type/:id', 'patch', noop, 'interaction')
      .add('GET', 'Patient/:id/$everything', 'everything', noop, 'read')
      .add('POST', '$reindex', 'reindex', noop, 'unrestricted');
    router.capabilities
      .addResourceContributor((type, r) => {
        if (type === 'Patient') r.searchParam = [{ name: 'family', type: 'string' }];
      })
      .addStatementContributor((cs) => {
        cs.rest![0].security = { cors: true, service: [{ text: 'SMART-on-FHIR' }] };
      })
      .defineOperation('reindex', 'http://example.org/OperationDefinition/reindex');
    const cs = capabilityStatement(router, 'http://x/fhir');
    expect(entry(cs, 'Patient').searchParam).toEqual([{ name: 'family', type: 'string' }]);
    expect(entry(cs, 'Observation').searchParam).toBeUndefined();
    expect(codes(entry(cs, 'Patient'))).toEqual(['patch', 'search-type']);
    expect(cs.rest?.[0].security?.cors).toBe(true);
    expect(codes(cs.rest?.[0] ?? {})).toEqual(['transaction']);
    expect(cs.rest?.[0].operation).toEqual([
      { name: 'reindex', definition: 'http://example.org/OperationDefinition/reindex' },
    ]);
    expect(cs.patchFormat).toContain('application/json-patch+json');
  });
});
