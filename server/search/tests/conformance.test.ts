import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';

/**
 * The conformance table: parameter type × modifier × prefix, each with the hits expected over the small fixture set
 * in fixtures/conformance-data.json (edge cases: date precision and time zones, accents and case, token system
 * forms, quantities with and without system/unit, ranges). `[base]` in a query stands for the server's FHIR base.
 * An expectation starting with `=` is ordered; otherwise it is compared as a set.
 */
const TABLE: [query: string, expected: string][] = [
  // string: default starts-with, case- and accent-insensitive; :exact; :contains; OR and AND
  ['Patient?name=mul', 'pat-anna'],
  ['Patient?name=MÜLLER', 'pat-anna'],
  ['Patient?family=smith', 'pat-bob pat-carl'],
  ['Patient?family:exact=Smith', 'pat-bob'],
  ['Patient?family:exact=smith', ''],
  ['Patient?family:exact=Müller', 'pat-anna'],
  ['Patient?family:contains=mith', 'pat-bob pat-carl'],
  ['Patient?family:contains=ULL', 'pat-anna'],
  ['Patient?given=rob', 'pat-bob'],
  ["Patient?family=o'b", 'pat-dora'],
  ['Patient?address-city=zurich', 'pat-anna'],
  ['Patient?name=anna,bob', 'pat-anna pat-bob'],
  ['Patient?name=s&given=carl', 'pat-carl'],
  ['Practitioner?name=house', 'prac-1'],
  // :missing on any type
  ['Patient?gender:missing=true', 'pat-dora'],
  ['Patient?gender:missing=false', 'pat-anna pat-bob pat-carl'],
  ['Observation?encounter:missing=false', 'obs-1'],
  ['Observation?date:missing=true', 'obs-6'],
  // token: code, system|code, |code, system|, :not, :text, :of-type, :in, :not-in, :below, :above
  ['Patient?gender=male', 'pat-bob pat-carl'],
  ['Patient?gender:not=male', 'pat-anna pat-dora'],
  ['Patient?gender:not=male,female', 'pat-dora'],
  // codes bound to a one-system value set carry that system implicitly
  ['Patient?gender=http://hl7.org/fhir/administrative-gender|male', 'pat-bob pat-carl'],
  ['Patient?gender=http://example.org/other|male', ''],
  ['Observation?status=http://hl7.org/fhir/observation-status|final', 'obs-1 obs-3 obs-5 obs-6'],
  ['Patient?identifier=urn:mrn|A1', 'pat-anna'],
  ['Patient?identifier=A1', 'pat-anna'],
  ['Patient?identifier=urn:mrn|', 'pat-anna pat-bob'],
  ['Patient?identifier=|NOSYS', 'pat-bob'],
  ['Patient?identifier=urn:other|A1', ''],
  ['Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|A1', 'pat-anna'],
  ['Patient?active=true', 'pat-anna'],
  ['Patient?phone=555-1234', 'pat-anna'],
  ['Patient?telecom=phone|555-1234', 'pat-anna'],
  ['Observation?code=http://loinc.org|8480-6', 'obs-1'],
  ['Observation?code=8480-6,8462-4', 'obs-1 obs-2'],
  ['Observation?code=http://loinc.org|8480-6,8462-4', 'obs-1 obs-2'],
  ['Observation?code=|local-1', 'obs-4'],
  ['Observation?code:text=systolic', 'obs-1'],
  ['Observation?code:in=http://example.org/ValueSet/bp', 'obs-1 obs-2'],
  ['Observation?code:not-in=http://example.org/ValueSet/bp', 'obs-3 obs-4 obs-5 obs-6'],
  ['Observation?code:below=http://example.org/cs|parent', 'obs-6'],
  ['Observation?code:above=http://example.org/cs|grandchild', 'obs-6'],
  ['Observation?code:below=http://example.org/cs|grandchild', ''],
  ['Observation?status=final,amended&category=vital-signs', 'obs-1'],
  // Resource-level parameters
  ['Patient?_tag=urn:tags|vip', 'pat-anna'],
  ['Patient?_profile=http://example.org/StructureDefinition/p', 'pat-bob'],
  ['Patient?_source=urn:src:a', 'pat-anna'],
  ['Patient?_id=pat-anna,pat-bob', 'pat-anna pat-bob'],
  ['Patient?_id:not=pat-anna', 'pat-bob pat-carl pat-dora'],
  ['Patient?_lastUpdated=gt2000-01-01', 'pat-anna pat-bob pat-carl pat-dora'],
  ['Patient?_lastUpdated=lt2000-01-01', ''],
  // date: precision (year, month, day, minute, second, millisecond), time zones, every prefix
  ['Patient?birthdate=1980', 'pat-anna'],
  ['Patient?birthdate=1980-05', 'pat-anna'],
  ['Patient?birthdate=1980-05-02', 'pat-anna'],
  ['Patient?birthdate=1975', 'pat-bob'],
  ['Patient?birthdate=1975-06', ''],
  ['Patient?birthdate=eq1990', 'pat-carl'],
  ['Patient?birthdate=ge1980', 'pat-anna pat-carl pat-dora'],
  ['Patient?birthdate=gt1980-05-02', 'pat-carl pat-dora'],
  ['Patient?birthdate=lt1980', 'pat-bob'],
  ['Patient?birthdate=le1980-05-02', 'pat-anna pat-bob'],
  ['Patient?birthdate=sa1990', 'pat-dora'],
  ['Patient?birthdate=eb1980', 'pat-bob'],
  ['Patient?birthdate=ne1980-05-02', 'pat-bob pat-carl pat-dora'],
  ['Patient?birthdate=ge1980&birthdate=lt2000', 'pat-anna pat-carl'],
  ['Observation?date=2020-01-01', 'obs-1'],
  ['Observation?date=2020-01', 'obs-1 obs-2'],
  ['Observation?date=2020-01-01T10:00:00%2B02:00', 'obs-1'],
  ['Observation?date=2020-01-01T08:00:00Z', 'obs-1'],
  ['Observation?date=2020-01-01T08:00Z', 'obs-1'],
  ['Observation?date=2020-01-01T10:00:00Z', ''],
  ['Observation?date=2020-01-01T03:00:00-05:00', 'obs-1'],
  ['Observation?date=lt2020-01-15', 'obs-1 obs-2 obs-4'],
  ['Observation?date=gt2020-01-15', 'obs-2 obs-3 obs-5'],
  ['Observation?date=2022-03-03T03:03:03.123Z', 'obs-5'],
  ['Observation?date=2022-03-03T03:03:03.124Z', ''],
  ['Observation?date=2022-03-03T03:03:03Z', 'obs-5'],
  ['Observation?date=ap2022-03-03', 'obs-5'],
  ['Encounter?date=2020-01-01T10:00Z', ''],
  ['Encounter?date=ge2020-01-01T10:00Z', 'enc-1'],
  ['Encounter?date=2020-01-01', 'enc-1'],
  // number: implicit precision range on eq, exact comparisons, ranges, exponent notation
  ['RiskAssessment?probability=0.25', 'ra-1'],
  ['RiskAssessment?probability=0.2', ''],
  ['RiskAssessment?probability=0.250', 'ra-1'],
  ['RiskAssessment?probability=8e-1', 'ra-2'],
  ['RiskAssessment?probability=gt0.5', 'ra-2 ra-3'],
  ['RiskAssessment?probability=lt0.2', ''],
  ['RiskAssessment?probability=lt0.3', 'ra-1'],
  ['RiskAssessment?probability=ge0.8', 'ra-2 ra-3'],
  ['RiskAssessment?probability=gt25', 'ra-3'],
  ['RiskAssessment?probability=le15', 'ra-1 ra-2 ra-3'],
  ['RiskAssessment?probability=20', ''],
  ['RiskAssessment?probability=ne0.25', 'ra-2 ra-3'],
  ['RiskAssessment?probability=ap0.27', 'ra-1'],
  ['RiskAssessment?probability=ap25', 'ra-3'],
  ['RiskAssessment?probability=sa0.3', 'ra-2 ra-3'],
  ['RiskAssessment?probability=eb0.3', 'ra-1'],
  // quantity: with and without system/unit
  ['Observation?value-quantity=120', 'obs-1'],
  ['Observation?value-quantity=120|http://unitsofmeasure.org|mm[Hg]', 'obs-1'],
  ['Observation?value-quantity=120||mm[Hg]', 'obs-1'],
  ['Observation?value-quantity=120||kg', ''],
  ['Observation?value-quantity=gt75||mm[Hg]', 'obs-1 obs-2'],
  ['Observation?value-quantity=lt100', 'obs-2 obs-3 obs-5'],
  ['Observation?value-quantity=5.4||mg', 'obs-5'],
  ['Observation?value-quantity=5.4|http://unitsofmeasure.org|mg', ''],
  ['Observation?value-quantity=70|http://unitsofmeasure.org|kg', 'obs-3'],
  ['Observation?value-quantity=ap78||mm[Hg]', 'obs-2'],
  // quantity: UCUM units of the same dimension are converted
  ['Observation?value-quantity=70000|http://unitsofmeasure.org|g', 'obs-3'],
  ['Observation?value-quantity=gt60000||g', 'obs-3'],
  ['Observation?value-quantity=lt0.1|http://unitsofmeasure.org|[ft_i]', ''],
  ['Observation?value-quantity=0.07|http://unitsofmeasure.org|kg', ''],
  ['Observation?value-quantity=5400||ug', ''],
  // reference: Type/id, id, :Type, our absolute URL, canonical with and without version, :identifier
  ['Observation?subject=Patient/pat-anna', 'obs-1 obs-2'],
  ['Observation?subject=pat-anna', 'obs-1 obs-2'],
  ['Observation?subject:Patient=pat-bob', 'obs-3 obs-4'],
  ['Observation?subject:Group=pat-bob', ''],
  ['Observation?patient=[base]/Patient/pat-carl', 'obs-5'],
  ['Observation?subject:identifier=urn:mrn|X9', 'obs-6'],
  ['QuestionnaireResponse?questionnaire=http://example.org/Questionnaire/q1', 'qr-1'],
  ['QuestionnaireResponse?questionnaire=http://example.org/Questionnaire/q1|1.0', 'qr-1'],
  ['QuestionnaireResponse?questionnaire=http://example.org/Questionnaire/q1|2.0', ''],
  // uri: exact, :below, :above
  ['Questionnaire?url=http://example.org/Questionnaire/q1', 'q-1'],
  ['Questionnaire?url=http://example.org', ''],
  ['Questionnaire?url:below=http://example.org/', 'q-1'],
  ['Questionnaire?url:above=http://example.org/Questionnaire/q1/extra', 'q-1'],
  // chains (typed, multi-level) and reverse chains (nested)
  ['Observation?subject:Patient.name=smith', 'obs-3 obs-4 obs-5'],
  ['Observation?patient.general-practitioner.name=house', 'obs-3 obs-4'],
  ['Observation?patient.organization.name=acme', 'obs-5'],
  ['Observation?patient.identifier=urn:mrn|A1', 'obs-1 obs-2'],
  ['Encounter?practitioner.name=house', 'enc-1'],
  ['Patient?_has:Observation:patient:code=8480-6', 'pat-anna'],
  ['Patient?_has:Observation:subject:value-quantity=lt100', 'pat-anna pat-bob pat-carl'],
  ['Practitioner?_has:Patient:general-practitioner:_has:Observation:patient:code=29463-7', 'prac-1'],
  // composite
  ['Observation?code-value-quantity=http://loinc.org|8480-6$gt100', 'obs-1'],
  ['Observation?code-value-quantity=http://loinc.org|8480-6$lt100', ''],
  ['Observation?component-code-value-quantity=http://loinc.org|8480-6$130', 'obs-5'],
  ['Observation?component-code-value-quantity=http://loinc.org|8480-6$85', ''],
  ['Observation?combo-code-value-quantity=8462-4$80.5', 'obs-2'],
  // special
  ['Location?near=47.37|8.54|10|km', 'loc-zurich'],
  ['Location?near=47.37|8.54|1000|km', 'loc-zurich loc-berlin'],
  ['Patient?_list=list-1', 'pat-anna pat-carl'],
  ['Patient?_text=climbing', 'pat-anna'],
  ['Patient?_content=mountains', 'pat-anna'],
  // sort (several keys, descending, missing values last)
  ['Patient?_sort=birthdate', '=pat-bob pat-anna pat-carl pat-dora'],
  ['Patient?_sort=-birthdate', '=pat-dora pat-carl pat-anna pat-bob'],
  ['Patient?_sort=gender,-birthdate', '=pat-anna pat-carl pat-bob pat-dora'],
  ['Patient?_sort=-family', '=pat-carl pat-bob pat-dora pat-anna'],
  ['Observation?_sort=-date&_count=2', '=obs-5 obs-3'],
  ['Patient?_sort=_id', '=pat-anna pat-bob pat-carl pat-dora'],
  // compartments
  ['Patient/pat-anna/Observation', 'obs-1 obs-2'],
  ['Patient/pat-anna/Observation?code=8462-4', 'obs-2'],
  ['Patient/pat-anna/Encounter', 'enc-1'],
  ['Patient/pat-anna/Patient', 'pat-anna'],
  ['Practitioner/prac-1/Encounter', 'enc-1'],
  ['Patient/pat-anna/*', 'pat-anna enc-1 obs-1 obs-2 ra-1 ra-2 ra-3 mr-1'],
  ['Patient/pat-anna/*?_lastUpdated=gt2000', 'pat-anna enc-1 obs-1 obs-2 ra-1 ra-2 ra-3 mr-1'],
  // _include / _revinclude (with :iterate)
  ['Encounter?_include=Encounter:practitioner', 'enc-1 prac-1'],
  [
    'Observation?code=29463-7&_include=Observation:patient&_include:iterate=Patient:general-practitioner',
    'obs-3 pat-bob prac-1',
  ],
  ['Observation?code=29463-7&_include=Observation:patient&_include=Patient:general-practitioner', 'obs-3 pat-bob'],
  ['Patient?_id=pat-anna&_revinclude=Observation:subject', 'pat-anna obs-1 obs-2'],
  [
    'Patient?_id=pat-anna&_revinclude=RiskAssessment:subject:Patient&_include=Patient:organization',
    'pat-anna ra-1 ra-2 ra-3',
  ],
  ['Encounter?_include=*', 'enc-1 pat-anna prac-1'],
  // contained resources
  ['Medication?code=1049502', 'med-2'],
  ['Medication?code=1049502&_contained=false', 'med-2'],
  ['Medication?code=1049502&_contained=true', 'med1'],
  ['Medication?code=1049502&_contained=both', 'med-2 med1'],
  ['Medication?code=1049502&_contained=true&_containedType=container', 'mr-1'],
  ['Medication?code=1049502&_contained=both&_containedType=container', 'mr-1 med-2'],
  ['Medication?code=999&_contained=both', ''],
  // system search
  ['?_type=Patient,Practitioner&_id=pat-anna,prac-1', 'pat-anna prac-1'],
  ['?_tag=urn:tags|vip', 'pat-anna'],
];

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
  const fixtures = JSON.parse(readFileSync(new URL('./fixtures/conformance-data.json', import.meta.url), 'utf8'));
  for (const r of fixtures) {
    const res = await fhir(server, 'PUT', `${r.resourceType}/${r.id}`, r);
    if (res.status !== 201) throw new Error(`fixture ${r.resourceType}/${r.id}: ${JSON.stringify(res.body)}`);
  }
});
afterAll(async () => {
  await server?.close();
});

describe('search conformance table', () => {
  it("gives contained matches the container's URL with the local id", async () => {
    const res = await fhir(server, 'GET', 'Medication?code=1049502&_contained=true');
    expect(res.body.entry.map((e: any) => e.fullUrl)).toEqual([`${server.fhirBase}/MedicationRequest/mr-1#med1`]);
  });

  it.each(TABLE)('%s → %s', async (query, expected) => {
    const res = await fhir(server, 'GET', query.replace('[base]', server.fhirBase));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const ids = (res.body.entry ?? []).filter((e: any) => e.search?.mode !== 'outcome').map((e: any) => e.resource.id);
    const warnings = (res.body.entry ?? []).filter((e: any) => e.search?.mode === 'outcome');
    expect(warnings, 'no parameter may be ignored').toEqual([]);
    if (expected.startsWith('=')) expect(ids).toEqual(expected.slice(1).split(' '));
    else expect([...ids].sort()).toEqual(expected.split(' ').filter(Boolean).sort());
  });
});
