import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { installPackage } from '../packages/install.ts';

/** Search's :in, :not-in, :below and :above on content of the terminology store (joined as SQL) and the spec's. */
const FIXTURE = resolve(import.meta.dirname, 'fixtures/tho-subset/package');
const ACT_CLASS = 'http://terminology.hl7.org/CodeSystem/v3-ActClass';
let server: Tributary;

const ids = (res: any) => (res.body.entry ?? []).map((e: any) => e.resource.id).sort();

beforeAll(async () => {
  server = await startTestServer();
  await installPackage(server.pool, FIXTURE, mkdtempSync(join(tmpdir(), 'profiles-')));
  const basic = (id: string, code: string, system = ACT_CLASS) =>
    fhir(server, 'PUT', `Basic/${id}`, { resourceType: 'Basic', id, code: { coding: [{ system, code }] } });
  await basic('doc', 'DOC');
  await basic('cda', 'CDALVLONE');
  await basic('accm', 'ACCM');
  await basic('male', 'male', 'http://hl7.org/fhir/administrative-gender');
});
afterAll(async () => server?.close());

describe('terminology in search', () => {
  it(':below and :above follow the stored is-a closure', async () => {
    expect(ids(await fhir(server, 'GET', `Basic?code:below=${ACT_CLASS}|DOC`))).toEqual(['cda', 'doc']);
    expect(ids(await fhir(server, 'GET', `Basic?code:above=${ACT_CLASS}|CDALVLONE`))).toEqual(['cda', 'doc']);
    expect(ids(await fhir(server, 'GET', `Basic?code:below=${ACT_CLASS}|CDALVLONE`))).toEqual(['cda']);
  });

  it(':in and :not-in use a stored ValueSet defined by is-a, and spec ValueSets', async () => {
    const docs = 'http://terminology.hl7.org/ValueSet/v3-ActClassDocument';
    expect(ids(await fhir(server, 'GET', `Basic?code:in=${docs}`))).toEqual(['cda', 'doc']);
    expect(ids(await fhir(server, 'GET', `Basic?code:not-in=${docs}`))).toEqual(['accm', 'male']);
    expect(ids(await fhir(server, 'GET', 'Basic?code:in=http://hl7.org/fhir/ValueSet/administrative-gender'))).toEqual([
      'male',
    ]);
  });

  it('answers 400 for what it cannot know', async () => {
    const unknown = await fhir(server, 'GET', 'Basic?code:in=http://example.org/ValueSet/none');
    expect(unknown.status).toBe(400);
    const hierarchy = await fhir(server, 'GET', 'Basic?code:below=http://example.org/cs|x');
    expect(hierarchy.status).toBe(400);
  });
});
