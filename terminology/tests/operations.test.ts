import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';

/** The terminology operations on the R4 specification's own content (FHIR code systems, v2 tables, v3, ConceptMaps). */
let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const param = (body: any, name: string) => body.parameter?.find((p: any) => p.name === name);
const gender = 'http://hl7.org/fhir/ValueSet/administrative-gender';
const v2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

describe('ValueSet/$expand', () => {
  it('expands administrative-gender', async () => {
    const res = await fhir(server, 'GET', `ValueSet/$expand?url=${gender}`);
    expect(res.status).toBe(200);
    expect(res.body.expansion.total).toBe(4);
    expect(res.body.expansion.contains.map((c: any) => c.code)).toEqual(['male', 'female', 'other', 'unknown']);
    expect(res.body.expansion.contains[0].system).toBe('http://hl7.org/fhir/administrative-gender');
  });

  it('expands the v2-0203 identifier types with a text filter, paging and a display language', async () => {
    const all = await fhir(server, 'GET', `ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v2-0203`);
    expect(all.body.expansion.total).toBe(127);
    const driver = await fhir(
      server,
      'GET',
      `ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v2-0203&filter=driver`,
    );
    expect(driver.body.expansion.contains.map((c: any) => c.code)).toContain('DL');
    expect(driver.body.expansion.contains.every((c: any) => /driver/i.test(c.display))).toBe(true);
    const page = await fhir(
      server,
      'GET',
      `ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v2-0203&count=10&offset=20`,
    );
    expect(page.body.expansion.total).toBe(127);
    expect(page.body.expansion.offset).toBe(20);
    expect(page.body.expansion.contains).toHaveLength(10);
    expect(page.body.expansion.contains[0].code).toBe(all.body.expansion.contains[20].code);
    const german = await fhir(server, 'POST', 'ValueSet/$expand', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'url', valueUri: 'http://terminology.hl7.org/ValueSet/v2-0203' },
        { name: 'filter', valueString: 'driver' },
        { name: 'displayLanguage', valueCode: 'de' },
        { name: 'includeDesignations', valueBoolean: true },
      ],
    });
    const dl = german.body.expansion.contains.find((c: any) => c.code === 'DL');
    expect(dl.display).toBe('Führerscheinnummer');
    expect(dl.designation.map((d: any) => d.language)).toEqual(['de', 'nl']);
  });

  it('expands an inline ValueSet with is-a, descendent-of, is-not-a, regex, in and = filters and an exclude', async () => {
    const actClass = 'http://terminology.hl7.org/CodeSystem/v3-ActClass';
    const expandWith = async (include: any, exclude?: any) => {
      const res = await fhir(server, 'POST', 'ValueSet/$expand', {
        resourceType: 'Parameters',
        parameter: [
          {
            name: 'valueSet',
            resource: { resourceType: 'ValueSet', status: 'active', compose: { include: [include], exclude } },
          },
        ],
      });
      expect(res.status).toBe(200);
      return (res.body.expansion.contains ?? []).map((c: any) => c.code);
    };
    const isA = await expandWith({
      system: actClass,
      filter: [{ property: 'concept', op: 'is-a', value: '_ActClassRecordOrganizer' }],
    });
    expect(isA).toEqual(expect.arrayContaining(['_ActClassRecordOrganizer', 'COMPOSITION', 'CONTAINER', 'EXTRACT']));
    const below = await expandWith({
      system: actClass,
      filter: [{ property: 'concept', op: 'descendent-of', value: '_ActClassRecordOrganizer' }],
    });
    expect(below).not.toContain('_ActClassRecordOrganizer');
    expect(below.length).toBe(isA.length - 1);
    const notA = await expandWith({
      system: actClass,
      filter: [{ property: 'concept', op: 'is-not-a', value: '_ActClassRecordOrganizer' }],
    });
    expect(notA).not.toContain('COMPOSITION');
    expect(notA).toContain('ACCM');
    const regex = await expandWith({ system: actClass, filter: [{ property: 'code', op: 'regex', value: 'ACC.*' }] });
    expect(regex.length).toBeGreaterThan(1);
    expect(regex.every((c: string) => c.startsWith('ACC'))).toBe(true);
    const listed = await expandWith({
      system: actClass,
      filter: [{ property: 'concept', op: 'in', value: 'ACCM,ACCT' }],
    });
    expect(listed).toEqual(['ACCM', 'ACCT']);
    const excluded = await expandWith(
      { system: actClass, filter: [{ property: 'concept', op: 'is-a', value: '_ActClassRecordOrganizer' }] },
      [{ system: actClass, concept: [{ code: 'EXTRACT' }] }],
    );
    expect(excluded).not.toContain('EXTRACT');
    expect(excluded.length).toBe(isA.length - 1);
  });

  it('refuses what it cannot do with an OperationOutcome, never a 500', async () => {
    const unknown = await fhir(server, 'GET', 'ValueSet/$expand?url=http://example.org/nothing');
    expect(unknown.status).toBe(404);
    const snomed = await fhir(server, 'GET', 'ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/media-view');
    expect(snomed.status).toBe(422);
    expect(snomed.body.issue[0].diagnostics).toContain('http://snomed.info/sct');
    const badRegex = await fhir(server, 'POST', 'ValueSet/$expand', {
      resourceType: 'Parameters',
      parameter: [
        {
          name: 'valueSet',
          resource: {
            resourceType: 'ValueSet',
            status: 'active',
            compose: { include: [{ system: v2_0203, filter: [{ property: 'code', op: 'regex', value: '(' }] }] },
          },
        },
      ],
    });
    expect(badRegex.status).toBe(400);
    const badCount = await fhir(server, 'GET', `ValueSet/$expand?url=${gender}&count=-1`);
    expect(badCount.status).toBe(400);
    const notParameters = await fhir(server, 'POST', 'ValueSet/$expand', { resourceType: 'Patient' });
    expect(notParameters.status).toBe(400);
  });
});

describe('$validate-code', () => {
  it('checks codes against ValueSets, reporting systems it does not hold as unknown', async () => {
    const ok = await fhir(
      server,
      'GET',
      `ValueSet/$validate-code?url=${gender}&system=http://hl7.org/fhir/administrative-gender&code=male`,
    );
    expect(param(ok.body, 'result').valueBoolean).toBe(true);
    expect(param(ok.body, 'display').valueString).toBe('Male');
    const bad = await fhir(
      server,
      'GET',
      `ValueSet/$validate-code?url=${gender}&system=http://hl7.org/fhir/administrative-gender&code=yes`,
    );
    expect(param(bad.body, 'result').valueBoolean).toBe(false);
    const noSystem = await fhir(server, 'GET', `ValueSet/$validate-code?url=${gender}&code=female`);
    expect(param(noSystem.body, 'result').valueBoolean).toBe(true);
    const snomed = await fhir(server, 'POST', 'ValueSet/$validate-code', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'url', valueUri: 'http://hl7.org/fhir/ValueSet/media-view' },
        { name: 'coding', valueCoding: { system: 'http://snomed.info/sct', code: '260419006' } },
      ],
    });
    expect(param(snomed.body, 'result').valueBoolean).toBe(false);
    expect(param(snomed.body, 'x-caused-by-unknown-system').valueCanonical).toBe('http://snomed.info/sct');
    const cc = await fhir(server, 'POST', 'ValueSet/$validate-code', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'url', valueUri: gender },
        {
          name: 'codeableConcept',
          valueCodeableConcept: {
            coding: [
              { system: 'http://example.org', code: 'x' },
              { system: 'http://hl7.org/fhir/administrative-gender', code: 'other' },
            ],
          },
        },
      ],
    });
    expect(param(cc.body, 'result').valueBoolean).toBe(true);
  });

  it('checks codes and displays against a CodeSystem, and UCUM units', async () => {
    const dl = await fhir(
      server,
      'GET',
      `CodeSystem/$validate-code?url=${v2_0203}&code=DL&display=Driver's license number`,
    );
    expect(param(dl.body, 'result').valueBoolean).toBe(true);
    const wrong = await fhir(server, 'GET', `CodeSystem/$validate-code?url=${v2_0203}&code=DL&display=Passport`);
    expect(param(wrong.body, 'result').valueBoolean).toBe(false);
    expect(param(wrong.body, 'message').valueString).toContain("Driver's license number");
    const unit = await fhir(server, 'GET', 'CodeSystem/$validate-code?url=http://unitsofmeasure.org&code=mg/dL');
    expect(param(unit.body, 'result').valueBoolean).toBe(true);
    const notUnit = await fhir(server, 'GET', 'CodeSystem/$validate-code?url=http://unitsofmeasure.org&code=mg/foo');
    expect(param(notUnit.body, 'result').valueBoolean).toBe(false);
  });
});

describe('CodeSystem/$lookup and $subsumes', () => {
  it('looks up a v2 code with its designations and properties', async () => {
    const res = await fhir(server, 'GET', `CodeSystem/$lookup?system=${v2_0203}&code=DL`);
    expect(res.status).toBe(200);
    expect(param(res.body, 'display').valueString).toBe("Driver's license number");
    expect(res.body.parameter.filter((p: any) => p.name === 'designation')).toHaveLength(2);
    const missing = await fhir(server, 'GET', `CodeSystem/$lookup?system=${v2_0203}&code=NOPE`);
    expect(missing.status).toBe(404);
  });

  it('answers subsumption in a code system hierarchy', async () => {
    const actClass = 'http://terminology.hl7.org/CodeSystem/v3-ActClass';
    const ask = async (a: string, b: string) =>
      param(
        (await fhir(server, 'GET', `CodeSystem/$subsumes?system=${actClass}&codeA=${a}&codeB=${b}`)).body,
        'outcome',
      ).valueCode;
    expect(await ask('_ActClassRecordOrganizer', 'COMPOSITION')).toBe('subsumes');
    expect(await ask('COMPOSITION', '_ActClassRecordOrganizer')).toBe('subsumed-by');
    expect(await ask('COMPOSITION', 'COMPOSITION')).toBe('equivalent');
    expect(await ask('COMPOSITION', 'ACCM')).toBe('not-subsumed');
    const parent = await fhir(server, 'GET', `CodeSystem/$lookup?system=${actClass}&code=COMPOSITION&property=parent`);
    const props = parent.body.parameter.filter((p: any) => p.name === 'property');
    expect(props.map((p: any) => p.part[1].valueCode)).toEqual(['_ActClassRecordOrganizer']);
  });

  it('works at instance level on a CodeSystem written through the API', async () => {
    const created = await fhir(server, 'POST', 'CodeSystem', {
      resourceType: 'CodeSystem',
      url: 'http://example.org/fhir/CodeSystem/colours',
      status: 'active',
      content: 'complete',
      concept: [
        {
          code: 'warm',
          display: 'Warm',
          concept: [
            { code: 'red', display: 'Red' },
            { code: 'orange', display: 'Orange' },
          ],
        },
        { code: 'cold', display: 'Cold', concept: [{ code: 'blue', display: 'Blue' }] },
      ],
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const sub = await fhir(server, 'GET', `CodeSystem/${id}/$subsumes?codeA=warm&codeB=red`);
    expect(param(sub.body, 'outcome').valueCode).toBe('subsumes');
    const look = await fhir(server, 'GET', `CodeSystem/${id}/$lookup?code=warm`);
    expect(
      look.body.parameter.filter((p: any) => p.part?.[0].valueCode === 'child').map((p: any) => p.part[1].valueCode),
    ).toEqual(['red', 'orange']);
    const vs = await fhir(server, 'POST', 'ValueSet', {
      resourceType: 'ValueSet',
      url: 'http://example.org/fhir/ValueSet/warm',
      status: 'active',
      compose: {
        include: [
          {
            system: 'http://example.org/fhir/CodeSystem/colours',
            filter: [{ property: 'concept', op: 'is-a', value: 'warm' }],
          },
        ],
      },
    });
    const expanded = await fhir(server, 'GET', `ValueSet/${vs.body.id}/$expand`);
    expect(expanded.body.expansion.contains.map((c: any) => c.code)).toEqual(['warm', 'red', 'orange']);
    const byUrl = await fhir(
      server,
      'GET',
      'ValueSet/$validate-code?url=http://example.org/fhir/ValueSet/warm&system=http://example.org/fhir/CodeSystem/colours&code=blue',
    );
    expect(param(byUrl.body, 'result').valueBoolean).toBe(false);
    const unknownId = await fhir(server, 'GET', 'CodeSystem/nope/$lookup?code=x');
    expect(unknownId.status).toBe(404);
  });
});

describe('ConceptMap/$translate', () => {
  it('translates with a specification ConceptMap, forward and reverse', async () => {
    const res = await fhir(
      server,
      'GET',
      'ConceptMap/$translate?system=http://hl7.org/fhir/administrative-gender&code=male&targetsystem=http://terminology.hl7.org/CodeSystem/v2-0001',
    );
    expect(param(res.body, 'result').valueBoolean).toBe(true);
    const match = param(res.body, 'match');
    expect(match.part.find((p: any) => p.name === 'concept').valueCoding).toMatchObject({ code: 'M' });
    const reverse = await fhir(
      server,
      'GET',
      'ConceptMap/$translate?system=http://terminology.hl7.org/CodeSystem/v2-0001&code=F&reverse=true&targetsystem=http://hl7.org/fhir/administrative-gender',
    );
    const back = param(reverse.body, 'match');
    expect(back.part.find((p: any) => p.name === 'concept').valueCoding).toMatchObject({ code: 'female' });
    const none = await fhir(server, 'GET', 'ConceptMap/$translate?system=http://example.org&code=x');
    expect(param(none.body, 'result').valueBoolean).toBe(false);
  });
});
