import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { installPackage } from '../packages/install.ts';

/** Installing FHIR packages: a subset of HL7 Terminology (THO) kept in fixtures/, and the whole of it from a path. */
const FIXTURE = resolve(import.meta.dirname, 'fixtures/tho-subset');
const param = (body: any, name: string) => body.parameter?.find((p: any) => p.name === name);

let server: Tributary;
let profiles: string;
beforeAll(async () => {
  server = await startTestServer();
  profiles = mkdtempSync(join(tmpdir(), 'profiles-'));
});
afterAll(async () => server?.close());

/**
 * The codes at and below `code` in a CodeSystem file, read straight from the file (not through the server): parents
 * are the nesting and the `subsumedBy` property, as THO writes its v3 hierarchies.
 */
function subtree(file: string, code: string): string[] {
  const cs = JSON.parse(readFileSync(join(FIXTURE, 'package', file), 'utf8'));
  const parents = new Map<string, string[]>();
  const walk = (concepts: any[], parent?: string) => {
    for (const c of concepts ?? []) {
      const list = parents.get(c.code) ?? [];
      if (parent) list.push(parent);
      for (const p of c.property ?? []) if (p.code === 'subsumedBy') list.push(p.valueCode);
      parents.set(c.code, list);
      walk(c.concept, c.code);
    }
  };
  walk(cs.concept);
  const below = (c: string, seen = new Set<string>()): boolean =>
    c === code || (!seen.has(c) && (seen.add(c), (parents.get(c) ?? []).some((p) => below(p, seen))));
  return [...parents.keys()].filter((c) => below(c));
}

describe('packages install', () => {
  it('installs a package from a .tgz: code systems, value sets and profiles', async () => {
    const work = mkdtempSync(join(tmpdir(), 'pkg-'));
    const tgz = join(work, 'tho.tgz');
    await tar.c({ gzip: true, file: tgz, cwd: FIXTURE }, ['package']);
    const summary = await installPackage(server.pool, tgz, profiles);
    expect(summary).toMatchObject({ name: 'hl7.terminology.r4', version: '7.0.1', codeSystems: 2, valueSets: 2 });
    expect(summary.structureDefinitions).toBe(1);
    const bundle = JSON.parse(readFileSync(summary.profilesFile!, 'utf8'));
    expect(bundle.entry[0].resource.url).toBe('http://terminology.hl7.org/StructureDefinition/ext-namingsystem-title');
    // the same package again replaces its content rather than adding to it
    const again = await installPackage(server.pool, join(FIXTURE, 'package'), profiles);
    expect(again.concepts).toBe(summary.concepts);
    const { rows } = await server.pool.query('SELECT count(*)::int AS n FROM terminology_code_system');
    expect(rows[0].n).toBe(2);
  });

  it('answers from the installed THO content: v2-0203 (THO version), is-a ValueSet, subsumption, lookup', async () => {
    const tho = JSON.parse(readFileSync(join(FIXTURE, 'package/CodeSystem-v2-0203.json'), 'utf8'));
    const all = await fhir(server, 'GET', 'ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v2-0203');
    expect(all.status).toBe(200);
    expect(all.body.expansion.total).toBe(tho.concept.length);
    expect(all.body.expansion.parameter[0].valueUri).toBe(
      `http://terminology.hl7.org/CodeSystem/v2-0203|${tho.version}`,
    );
    const docs = await fhir(
      server,
      'GET',
      'ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v3-ActClassDocument',
    );
    expect(docs.body.expansion.contains.map((c: any) => c.code).sort()).toEqual(
      subtree('CodeSystem-v3-ActClass.json', 'DOC').sort(),
    );
    const filtered = await fhir(
      server,
      'GET',
      'ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v3-ActClassDocument&filter=clinical&count=5',
    );
    expect(filtered.body.expansion.contains.every((c: any) => /clinical/i.test(c.display))).toBe(true);
    const actClass = 'http://terminology.hl7.org/CodeSystem/v3-ActClass';
    const sub = await fhir(server, 'GET', `CodeSystem/$subsumes?system=${actClass}&codeA=DOC&codeB=CDALVLONE`);
    expect(param(sub.body, 'outcome').valueCode).toBe('subsumes');
    const not = await fhir(server, 'GET', `CodeSystem/$subsumes?system=${actClass}&codeA=DOC&codeB=ACCM`);
    expect(param(not.body, 'outcome').valueCode).toBe('not-subsumed');
    const dl = await fhir(
      server,
      'GET',
      'CodeSystem/$lookup?system=http://terminology.hl7.org/CodeSystem/v2-0203&code=DL',
    );
    expect(param(dl.body, 'version').valueString).toBe(tho.version);
    expect(param(dl.body, 'display').valueString).toBe(tho.concept.find((c: any) => c.code === 'DL').display);
    const valid = await fhir(
      server,
      'GET',
      'ValueSet/$validate-code?url=http://terminology.hl7.org/ValueSet/v3-ActClassDocument&system=http://terminology.hl7.org/CodeSystem/v3-ActClass&code=CDALVLONE',
    );
    expect(param(valid.body, 'result').valueBoolean).toBe(true);
    const outside = await fhir(
      server,
      'GET',
      'ValueSet/$validate-code?url=http://terminology.hl7.org/ValueSet/v3-ActClassDocument&system=http://terminology.hl7.org/CodeSystem/v3-ActClass&code=ACCM',
    );
    expect(param(outside.body, 'result').valueBoolean).toBe(false);
  });
});

/** The whole of HL7 Terminology, when FHIR_PACKAGES_DIR holds its .tgz (npm pack hl7.terminology.r4). */
const packagesDir = process.env.FHIR_PACKAGES_DIR;
const thoTarball =
  packagesDir && existsSync(packagesDir)
    ? readdirSync(packagesDir).find((f) => f.startsWith('hl7.terminology.r4-') && f.endsWith('.tgz'))
    : undefined;

describe.skipIf(!thoTarball)('the whole HL7 Terminology package', () => {
  it('installs and expands its v2 and v3 value sets', async () => {
    const summary = await installPackage(server.pool, join(packagesDir!, thoTarball!), profiles);
    expect(summary.codeSystems).toBeGreaterThan(800);
    expect(summary.valueSets).toBeGreaterThan(2000);
    const gender = await fhir(
      server,
      'GET',
      'ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v3-AdministrativeGender',
    );
    expect(gender.body.expansion.contains.map((c: any) => c.code)).toEqual(expect.arrayContaining(['F', 'M']));
    const roles = await fhir(
      server,
      'GET',
      'ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v3-RoleCode&count=10',
    );
    expect(roles.body.expansion.total).toBeGreaterThan(100);
  }, 600_000);
});

describe('tributary packages (command line)', () => {
  it('installs a package folder into the database DATABASE_URL names and lists it', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { createTestDatabase, dropTestDatabase } = await import('../../test/harness.ts');
    const url = await createTestDatabase('pkgcli');
    try {
      const bin = resolve(import.meta.dirname, '../../bin/tributary.mjs');
      const env = { ...process.env, DATABASE_URL: url, PROFILES_DIR: profiles };
      const run = promisify(execFile);
      const installed = await run(process.execPath, [bin, 'packages', 'install', join(FIXTURE, 'package')], { env });
      expect(installed.stdout).toContain('hl7.terminology.r4@7.0.1: 2 code systems');
      const listed = await run(process.execPath, [bin, 'packages', 'list'], { env });
      expect(listed.stdout).toContain('hl7.terminology.r4@7.0.1');
      const bad = await run(process.execPath, [bin, 'packages', 'install', 'not a package!'], { env }).catch((e) => e);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('neither a file');
    } finally {
      await dropTestDatabase(url);
    }
  });
});
