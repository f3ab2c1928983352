/** Test fixtures of prescription validation: prescribers, patients and their records, stored with fixed ids. */

/** A resource as tests write it (any shape, on purpose: the test set includes malformed ones). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export const RX = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const DAY = 86_400_000;
export const daysAgo = (n: number) => new Date(Date.now() - n * DAY).toISOString();
export const dateIn = (n: number) => new Date(Date.now() + n * DAY).toISOString().slice(0, 10);

/** What a test prescription varies. */
export interface RxSpec {
  patient?: string;
  rxcui?: string;
  dose?: number;
  unit?: string;
  /** Doses per `periodDays`. */
  perDay?: number;
  requester?: string;
  [more: string]: unknown;
}

/** A MedicationRequest: by default adult patient, Dr A, one 500 mg dose a day, 30 tablets, no refills. */
export function mr(spec: RxSpec = {}): Json {
  const {
    patient = 'p-adult',
    rxcui = '6809',
    dose = 500,
    unit = 'mg',
    perDay = 1,
    requester = 'Practitioner/dr-a',
    ...extra
  } = spec;
  return {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: RX, code: rxcui }] },
    subject: { reference: `Patient/${patient}` },
    requester: { reference: requester },
    authoredOn: new Date().toISOString(),
    dosageInstruction: [
      {
        timing: { repeat: { frequency: perDay, period: 1, periodUnit: 'd' } },
        doseAndRate: [{ doseQuantity: { value: dose, unit, system: 'http://unitsofmeasure.org', code: unit } }],
      },
    ],
    dispenseRequest: { quantity: { value: 30, unit: 'tablet' }, numberOfRepeatsAllowed: 0 },
    ...extra,
  };
}

const role = (code: string) => ({
  code: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/practitioner-role', code }] }],
});
const clinical = (code: string) => ({
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code }],
});
const verification = (code: string) => ({
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code }],
});
const allergy = (id: string, system: string, code: string, status: string, verified: string) => ({
  resourceType: 'AllergyIntolerance',
  id,
  clinicalStatus: clinical(status),
  verificationStatus: verification(verified),
  code: { coding: [{ system, code }] },
  patient: { reference: 'Patient/p-allergy' },
});
const statement = (id: string, patient: string, rxcui: string) => ({
  resourceType: 'MedicationStatement',
  id,
  status: 'active',
  medicationCodeableConcept: { coding: [{ system: RX, code: rxcui }] },
  subject: { reference: `Patient/${patient}` },
});
const dispense = (id: string, prescription: string, handedDaysAgo: number, daysSupply = 30) => ({
  resourceType: 'MedicationDispense',
  id,
  status: 'completed',
  medicationCodeableConcept: { coding: [{ system: RX, code: '6809' }] },
  subject: { reference: 'Patient/p-refill' },
  authorizingPrescription: [{ reference: `MedicationRequest/${prescription}` }],
  whenHandedOver: daysAgo(handedDaysAgo),
  daysSupply: { value: daysSupply, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' },
});

/** Every fixture resource, in an order in which references resolve. */
export function fixtures(): Json[] {
  return [
    { resourceType: 'Practitioner', id: 'dr-a', active: true, name: [{ family: 'A' }] },
    { resourceType: 'Practitioner', id: 'dr-b', active: true, name: [{ family: 'B' }] },
    { resourceType: 'Practitioner', id: 'dr-gone', active: false, name: [{ family: 'Gone' }] },
    { resourceType: 'Practitioner', id: 'nurse', active: true, name: [{ family: 'Nurse' }] },
    {
      resourceType: 'PractitionerRole',
      id: 'role-a',
      active: true,
      practitioner: { reference: 'Practitioner/dr-a' },
      ...role('doctor'),
    },
    {
      resourceType: 'PractitionerRole',
      id: 'role-b',
      active: true,
      practitioner: { reference: 'Practitioner/dr-b' },
      ...role('doctor'),
    },
    {
      resourceType: 'PractitionerRole',
      id: 'role-gone',
      active: true,
      practitioner: { reference: 'Practitioner/dr-gone' },
      ...role('doctor'),
    },
    {
      resourceType: 'PractitionerRole',
      id: 'role-nurse',
      active: true,
      practitioner: { reference: 'Practitioner/nurse' },
      ...role('nurse'),
    },
    ...['p-adult', 'p-interact', 'p-allergy', 'p-dose', 'p-refill', 'p-dup'].map((id) => ({
      resourceType: 'Patient',
      id,
      active: true,
      birthDate: '1970-05-01',
    })),
    { resourceType: 'Patient', id: 'p-child', active: true, birthDate: dateIn(-8 * 365) },
    { resourceType: 'Patient', id: 'p-child-noweight', active: true, birthDate: dateIn(-6 * 365) },
    { resourceType: 'Patient', id: 'p-inactive', active: false, birthDate: '1960-01-01' },
    {
      resourceType: 'Patient',
      id: 'p-merged',
      active: false,
      link: [{ other: { reference: 'Patient/p-adult' }, type: 'replaced-by' }],
    },
    {
      resourceType: 'Observation',
      id: 'child-weight',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
      subject: { reference: 'Patient/p-child' },
      effectiveDateTime: daysAgo(3),
      valueQuantity: { value: 20, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    },
    // p-interact takes simvastatin, methotrexate, sildenafil, tizanidine (requests) and omeprazole, phenelzine (statements)
    { ...mr({ patient: 'p-interact', rxcui: '36567', dose: 20 }), id: 'int-simva' },
    { ...mr({ patient: 'p-interact', rxcui: '6851', dose: 2.5 }), id: 'int-mtx' },
    { ...mr({ patient: 'p-interact', rxcui: '136411', dose: 20 }), id: 'int-silden' },
    { ...mr({ patient: 'p-interact', rxcui: '57258', dose: 4 }), id: 'int-tizan' },
    statement('int-omep', 'p-interact', '7646'),
    statement('int-phenel', 'p-interact', '8123'),
    allergy('alg-pen', RX, '7980', 'active', 'confirmed'),
    allergy('alg-nsaid', 'http://www.whocc.no/atc', 'M01A', 'active', 'unconfirmed'),
    allergy('alg-smx', RX, '10180', 'active', 'confirmed'),
    allergy('alg-refuted', RX, '29046', 'active', 'refuted'),
    allergy('alg-resolved', RX, '6809', 'resolved', 'confirmed'),
    // p-refill: an exhausted original (1 repeat, 2 fills), a recent fill (5 days ago), an old fill (28 days ago)
    {
      ...mr({ patient: 'p-refill', dispenseRequest: { quantity: { value: 30 }, numberOfRepeatsAllowed: 1 } }),
      id: 'rf-done',
    },
    dispense('rf-done-1', 'rf-done', 60),
    dispense('rf-done-2', 'rf-done', 30),
    {
      ...mr({
        patient: 'p-refill',
        rxcui: '29046',
        dose: 10,
        dispenseRequest: { quantity: { value: 30 }, numberOfRepeatsAllowed: 3 },
      }),
      id: 'rf-recent',
    },
    dispense('rf-recent-1', 'rf-recent', 5),
    {
      ...mr({
        patient: 'p-refill',
        rxcui: '17767',
        dose: 5,
        dispenseRequest: { quantity: { value: 30 }, numberOfRepeatsAllowed: 3 },
      }),
      id: 'rf-due',
    },
    dispense('rf-due-1', 'rf-due', 28),
    // p-dup: lisinopril 10 mg by Dr A today; metformin 500 mg by Dr A 60 days ago
    {
      ...mr({
        patient: 'p-dup',
        rxcui: '29046',
        dose: 10,
        dispenseRequest: { quantity: { value: 30 }, numberOfRepeatsAllowed: 2 },
      }),
      id: 'dup-lis',
    },
    { ...mr({ patient: 'p-dup', authoredOn: daysAgo(60) }), id: 'dup-met-old' },
    // refills in series: lisinopril refilled 26 days ago; amlodipine refilled 3 days ago
    {
      ...mr({
        patient: 'p-dup',
        rxcui: '29046',
        dose: 10,
        authoredOn: daysAgo(26),
        priorPrescription: { reference: 'MedicationRequest/dup-lis' },
      }),
      id: 'dup-lis-r1',
    },
    {
      ...mr({
        patient: 'p-dup',
        rxcui: '17767',
        dose: 5,
        authoredOn: daysAgo(40),
        dispenseRequest: { quantity: { value: 30 }, numberOfRepeatsAllowed: 3 },
      }),
      id: 'dup-aml',
    },
    {
      ...mr({
        patient: 'p-dup',
        rxcui: '17767',
        dose: 5,
        authoredOn: daysAgo(3),
        priorPrescription: { reference: 'MedicationRequest/dup-aml' },
      }),
      id: 'dup-aml-r1',
    },
  ];
}

/** Stores the fixtures (update-as-create with their ids) on a server (plain fetch: benches use it outside vitest). */
export async function loadFixtures(server: { fhirBase: string }, headers: Record<string, string> = {}) {
  for (const r of fixtures()) {
    const res = await fetch(`${server.fhirBase}/${r.resourceType}/${r.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', ...headers },
      body: JSON.stringify(r),
    });
    if (res.status >= 300) throw new Error(`${r.resourceType}/${r.id}: ${res.status} ${await res.text()}`);
  }
}
