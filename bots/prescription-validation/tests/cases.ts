import { dateIn, daysAgo, mr, RX, type Json } from './fixtures.ts';

/** A prescription of the test set and the findings it must give (layer:severity, sorted); [] for a clean one. */
export interface Case {
  name: string;
  body: Json;
  expect: string[];
}

const UCUM = 'http://unitsofmeasure.org';
const perDayQ = (hours: number) => 24 / hours;
const noDose = (body: Json) => ({
  ...body,
  dosageInstruction: [{ timing: body.dosageInstruction[0].timing }],
});

export const CASES: Case[] = [
  // clean
  { name: 'metformin 500 mg daily', body: mr(), expect: [] },
  { name: 'metformin 850 mg twice daily', body: mr({ dose: 850, perDay: 2 }), expect: [] },
  { name: 'lisinopril 10 mg daily', body: mr({ rxcui: '29046', dose: 10 }), expect: [] },
  { name: 'amlodipine 5 mg daily', body: mr({ rxcui: '17767', dose: 5 }), expect: [] },
  { name: 'amlodipine 10 mg (at the maximum)', body: mr({ rxcui: '17767', dose: 10 }), expect: [] },
  { name: 'lisinopril 10 mg tablet, 1 tablet', body: mr({ rxcui: '314076', dose: 1, unit: '{tablet}' }), expect: [] },
  { name: 'acetaminophen 500 mg every 6 h', body: mr({ rxcui: '161', perDay: perDayQ(6) }), expect: [] },
  {
    name: 'acetaminophen 1 g every 6 h (4 g, the maximum)',
    body: mr({ rxcui: '161', dose: 1, unit: 'g', perDay: 4 }),
    expect: [],
  },
  { name: 'atorvastatin 40 mg', body: mr({ rxcui: '83367', dose: 40 }), expect: [] },
  { name: 'levothyroxine 100 mcg', body: mr({ rxcui: '10582', dose: 100, unit: 'ug' }), expect: [] },
  { name: 'gabapentin 300 mg three times daily', body: mr({ rxcui: '25480', dose: 300, perDay: 3 }), expect: [] },
  { name: 'prescriber by PractitionerRole', body: mr({ requester: 'PractitionerRole/role-a' }), expect: [] },
  { name: 'Dr B prescribes', body: mr({ requester: 'Practitioner/dr-b' }), expect: [] },
  { name: 'draft status', body: mr({ status: 'draft' }), expect: [] },
  {
    name: 'supply duration instead of quantity',
    body: mr({ dispenseRequest: { expectedSupplyDuration: { value: 30, unit: 'd' } } }),
    expect: [],
  },
  { name: 'p-interact: metformin', body: mr({ patient: 'p-interact' }), expect: [] },
  { name: 'p-interact: lisinopril', body: mr({ patient: 'p-interact', rxcui: '29046', dose: 10 }), expect: [] },
  { name: 'p-interact: amlodipine', body: mr({ patient: 'p-interact', rxcui: '17767', dose: 5 }), expect: [] },
  {
    name: 'p-allergy: lisinopril (refuted allergy)',
    body: mr({ patient: 'p-allergy', rxcui: '29046', dose: 10 }),
    expect: [],
  },
  { name: 'p-allergy: metformin (resolved allergy)', body: mr({ patient: 'p-allergy' }), expect: [] },
  { name: 'p-allergy: acetaminophen', body: mr({ patient: 'p-allergy', rxcui: '161' }), expect: [] },
  {
    name: 'child 20 kg: ibuprofen 200 mg q6h (40 mg/kg/day, the maximum)',
    body: mr({ patient: 'p-child', rxcui: '5640', dose: 200, perDay: 4 }),
    expect: [],
  },
  {
    name: 'child 20 kg: acetaminophen 300 mg q6h',
    body: mr({ patient: 'p-child', rxcui: '161', dose: 300, perDay: 4 }),
    expect: [],
  },
  {
    name: 'child: azithromycin (no dose limit in the table)',
    body: mr({ patient: 'p-child-noweight', rxcui: '18631', dose: 200 }),
    expect: [],
  },
  {
    name: 'refill due (2 of 30 days left)',
    body: mr({
      patient: 'p-refill',
      rxcui: '17767',
      dose: 5,
      priorPrescription: { reference: 'MedicationRequest/rf-due' },
    }),
    expect: [],
  },
  {
    name: 'alprazolam 0.5 mg tid, 1 refill, 3 months',
    body: mr({
      rxcui: '596',
      dose: 0.5,
      perDay: 3,
      authoredOn: new Date().toISOString(),
      dispenseRequest: {
        quantity: { value: 90 },
        numberOfRepeatsAllowed: 1,
        validityPeriod: { start: dateIn(0), end: dateIn(90) },
      },
    }),
    expect: [],
  },
  { name: 'oxycodone 5 mg q6h, no refill', body: mr({ rxcui: '7804', dose: 5, perDay: 4 }), expect: [] },
  {
    name: 'pregabalin (schedule V) with 6 refills',
    body: mr({
      rxcui: '187832',
      dose: 75,
      perDay: 2,
      dispenseRequest: { quantity: { value: 60 }, numberOfRepeatsAllowed: 6 },
    }),
    expect: [],
  },
  {
    name: 'p-dup: lisinopril 20 mg (another dose)',
    body: mr({ patient: 'p-dup', rxcui: '29046', dose: 20 }),
    expect: [],
  },
  {
    name: 'p-dup: lisinopril 10 mg by Dr B',
    body: mr({ patient: 'p-dup', rxcui: '29046', dose: 10, requester: 'Practitioner/dr-b' }),
    expect: [],
  },
  {
    name: 'p-dup: lisinopril 10 mg as a refill (the last refill 26 days ago)',
    body: mr({
      patient: 'p-dup',
      rxcui: '29046',
      dose: 10,
      priorPrescription: { reference: 'MedicationRequest/dup-lis' },
    }),
    expect: [],
  },
  { name: 'p-dup: metformin 500 mg (the same 60 days ago)', body: mr({ patient: 'p-dup' }), expect: [] },
  {
    name: 'validity ending in 30 days',
    body: mr({ dispenseRequest: { quantity: { value: 30 }, validityPeriod: { start: dateIn(0), end: dateIn(30) } } }),
    expect: [],
  },

  // interactions (ONC high-priority list) with p-interact's current medications
  {
    name: 'atazanavir with omeprazole',
    body: mr({ patient: 'p-interact', rxcui: '343047', dose: 300 }),
    expect: ['interaction:high', 'interaction:high'], // a PPI, and simvastatin (atazanavir is a protease inhibitor)
  },
  {
    name: 'ritonavir with simvastatin',
    body: mr({ patient: 'p-interact', rxcui: '85762', dose: 100 }),
    expect: ['interaction:high'],
  },
  {
    name: 'ciprofloxacin with tizanidine',
    body: mr({ patient: 'p-interact', rxcui: '2551', dose: 500, perDay: 2 }),
    expect: ['interaction:high'],
  },
  {
    name: 'fluvoxamine with tizanidine',
    body: mr({ patient: 'p-interact', rxcui: '42355', dose: 50 }),
    expect: ['interaction:high', 'interaction:high'], // tizanidine, and phenelzine (fluvoxamine is an SSRI)
  },
  {
    name: 'trimethoprim with methotrexate',
    body: mr({ patient: 'p-interact', rxcui: '10829', dose: 100, perDay: 2 }),
    expect: ['interaction:high'],
  },
  {
    name: 'nitroglycerin with sildenafil',
    body: mr({ patient: 'p-interact', rxcui: '4917', dose: 0.4 }),
    expect: ['interaction:high'],
  },
  {
    name: 'isosorbide dinitrate with sildenafil',
    body: mr({ patient: 'p-interact', rxcui: '6058', dose: 10, perDay: 3 }),
    expect: ['interaction:high'],
  },
  {
    name: 'sertraline with phenelzine',
    body: mr({ patient: 'p-interact', rxcui: '36437', dose: 50 }),
    expect: ['interaction:high'],
  },
  {
    name: 'tramadol with phenelzine',
    body: mr({ patient: 'p-interact', rxcui: '10689', dose: 50, perDay: 2 }),
    expect: ['interaction:high'],
  },
  {
    name: 'clarithromycin (no pair with current drugs)',
    body: mr({ patient: 'p-interact', rxcui: '21212', dose: 500, perDay: 2 }),
    expect: [],
  },

  // allergies
  {
    name: 'amoxicillin, penicillin G allergy',
    body: mr({ patient: 'p-allergy', rxcui: '723', dose: 500, perDay: 3 }),
    expect: ['allergy:high'],
  },
  {
    name: 'penicillin V, penicillin G allergy',
    body: mr({ patient: 'p-allergy', rxcui: '7984', dose: 500, perDay: 2 }),
    expect: ['allergy:high'],
  },
  {
    name: 'cephalexin, penicillin allergy (cross-reactivity)',
    body: mr({ patient: 'p-allergy', rxcui: '2231', dose: 500, perDay: 2 }),
    expect: ['allergy:moderate'],
  },
  {
    name: 'ibuprofen, unconfirmed NSAID allergy',
    body: mr({ patient: 'p-allergy', rxcui: '5640', dose: 400, perDay: 3 }),
    expect: ['allergy:moderate'],
  },
  {
    name: 'naproxen, unconfirmed NSAID allergy',
    body: mr({ patient: 'p-allergy', rxcui: '7258', dose: 250, perDay: 2 }),
    expect: ['allergy:moderate'],
  },
  {
    name: 'sulfamethoxazole, confirmed allergy',
    body: mr({ patient: 'p-allergy', rxcui: '10180', dose: 800, perDay: 2 }),
    expect: ['allergy:high'],
  },

  // dose
  {
    name: 'acetaminophen 1 g every 4 h (6 g)',
    body: mr({ rxcui: '161', dose: 1000, perDay: perDayQ(4) }),
    expect: ['dose:high'],
  },
  {
    name: 'ibuprofen 800 mg six times a day',
    body: mr({ rxcui: '5640', dose: 800, perDay: 6 }),
    expect: ['dose:high'],
  },
  { name: 'amlodipine 20 mg', body: mr({ rxcui: '17767', dose: 20 }), expect: ['dose:high'] },
  { name: 'simvastatin 80 mg', body: mr({ rxcui: '36567', dose: 80 }), expect: ['dose:high'] },
  {
    name: 'lisinopril 10 mg tablets, 10 a day',
    body: mr({ rxcui: '314076', dose: 10, unit: '{tablet}' }),
    expect: ['dose:high'],
  },
  {
    name: 'acetaminophen up to 6 g per day (maxDosePerPeriod)',
    body: (() => {
      const b = mr({ rxcui: '161' });
      b.dosageInstruction[0].maxDosePerPeriod = {
        numerator: { value: 6, system: UCUM, code: 'g' },
        denominator: { value: 1, system: UCUM, code: 'd' },
      };
      return b;
    })(),
    expect: ['dose:high'],
  },
  {
    name: 'child 20 kg: amoxicillin 1 g q8h (150 mg/kg/day)',
    body: mr({ patient: 'p-child', rxcui: '723', dose: 1000, perDay: 3 }),
    expect: ['dose:high'],
  },
  {
    name: 'child 20 kg: ibuprofen 300 mg q6h',
    body: mr({ patient: 'p-child', rxcui: '5640', dose: 300, perDay: 4 }),
    expect: ['dose:high'],
  },
  {
    name: 'child without weight: amoxicillin',
    body: mr({ patient: 'p-child-noweight', rxcui: '723', dose: 250, perDay: 3 }),
    expect: ['dose:moderate'],
  },

  // refills
  {
    name: 'the exhausted prescription itself',
    body: {
      ...mr({ patient: 'p-refill', dispenseRequest: { quantity: { value: 30 }, numberOfRepeatsAllowed: 1 } }),
      id: 'rf-done',
    },
    expect: ['refill:high'],
  },
  {
    name: 'a refill of an exhausted prescription',
    body: mr({ patient: 'p-refill', priorPrescription: { reference: 'MedicationRequest/rf-done' } }),
    expect: ['refill:high'],
  },
  {
    name: 'a refill 5 days into a 30-day supply',
    body: mr({
      patient: 'p-refill',
      rxcui: '29046',
      dose: 10,
      priorPrescription: { reference: 'MedicationRequest/rf-recent' },
    }),
    expect: ['refill:moderate'],
  },
  {
    name: 'expired validity',
    body: mr({
      dispenseRequest: { quantity: { value: 30 }, validityPeriod: { start: '2019-01-01', end: '2020-01-01' } },
    }),
    expect: ['refill:high'],
  },
  {
    name: 'oxycodone (schedule II) with 2 refills',
    body: mr({
      rxcui: '7804',
      dose: 5,
      perDay: 4,
      dispenseRequest: { quantity: { value: 30 }, numberOfRepeatsAllowed: 2 },
    }),
    expect: ['refill:high'],
  },
  {
    name: 'alprazolam (schedule IV) with 6 refills',
    body: mr({ rxcui: '596', dose: 0.5, dispenseRequest: { quantity: { value: 30 }, numberOfRepeatsAllowed: 6 } }),
    expect: ['refill:high'],
  },
  {
    name: 'alprazolam valid for a year',
    body: mr({
      rxcui: '596',
      dose: 0.5,
      dispenseRequest: {
        quantity: { value: 30 },
        numberOfRepeatsAllowed: 1,
        validityPeriod: { start: dateIn(0), end: dateIn(365) },
      },
    }),
    expect: ['refill:high'],
  },

  // duplicate
  {
    name: 'p-dup: the same lisinopril again',
    body: mr({ patient: 'p-dup', rxcui: '29046', dose: 10 }),
    expect: ['duplicate:high'],
  },
  {
    name: 'p-dup: the same lisinopril, drafted',
    body: mr({ patient: 'p-dup', rxcui: '29046', dose: 10, status: 'draft' }),
    expect: ['duplicate:high'],
  },

  {
    name: 'p-dup: a second refill of amlodipine 3 days after the first',
    body: mr({
      patient: 'p-dup',
      rxcui: '17767',
      dose: 5,
      priorPrescription: { reference: 'MedicationRequest/dup-aml' },
    }),
    expect: ['duplicate:high'],
  },

  // prescriber and patient
  { name: 'inactive prescriber', body: mr({ requester: 'Practitioner/dr-gone' }), expect: ['prescriber:high'] },
  {
    name: 'a nurse without a prescribing role',
    body: mr({ requester: 'Practitioner/nurse' }),
    expect: ['prescriber:high'],
  },
  { name: 'an unknown prescriber', body: mr({ requester: 'Practitioner/nobody' }), expect: ['prescriber:high'] },
  { name: 'a patient as requester', body: mr({ requester: 'Patient/p-adult' }), expect: ['prescriber:high'] },
  { name: 'inactive patient', body: mr({ patient: 'p-inactive' }), expect: ['patient:high'] },
  { name: 'merged patient', body: mr({ patient: 'p-merged' }), expect: ['patient:high'] },
  { name: 'unknown patient', body: mr({ patient: 'nobody' }), expect: ['patient:high'] },

  // structure
  { name: 'no date written', body: (({ authoredOn: _a, ...b }) => b)(mr()), expect: ['structure:high'] },
  {
    name: 'no dosage instruction at all',
    body: (({ dosageInstruction: _d, ...b }) => b)(mr()),
    expect: ['structure:high'],
  },
  {
    name: 'medication as text only',
    body: { ...mr(), medicationCodeableConcept: { text: 'metformin' } },
    expect: ['structure:high'],
  },
  {
    name: 'medication coded in another system',
    body: { ...mr(), medicationCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '109081006' }] } },
    expect: ['structure:high'],
  },
  { name: 'an RxNorm code the table does not know', body: mr({ rxcui: '999999' }), expect: ['structure:low'] },
  { name: 'no dose', body: noDose(mr()), expect: ['structure:high'] },
  {
    name: 'no frequency',
    body: {
      ...mr(),
      dosageInstruction: [{ doseAndRate: [{ doseQuantity: { value: 500, system: UCUM, code: 'mg' } }] }],
    },
    expect: ['structure:high'],
  },
  {
    name: 'no quantity or supply',
    body: { ...mr(), dispenseRequest: { numberOfRepeatsAllowed: 0 } },
    expect: ['structure:high'],
  },
  { name: 'no requester', body: (({ requester: _r, ...b }) => b)(mr()), expect: ['prescriber:high', 'structure:high'] },
  {
    name: 'contained Medication coded by ingredient',
    body: {
      ...mr({ rxcui: '161', dose: 1000, perDay: 6 }),
      medicationCodeableConcept: undefined,
      contained: [{ resourceType: 'Medication', id: 'm', code: { coding: [{ system: RX, code: '161' }] } }],
      medicationReference: { reference: '#m' },
    },
    expect: ['dose:high'],
  },

  // several problems at once
  {
    name: 'atazanavir 300 mg for p-interact by an inactive prescriber',
    body: mr({ patient: 'p-interact', rxcui: '343047', dose: 300, requester: 'Practitioner/dr-gone' }),
    expect: ['interaction:high', 'interaction:high', 'prescriber:high'],
  },
  {
    name: 'amoxicillin 2 g tid for p-allergy (allergy and dose)',
    body: mr({ patient: 'p-allergy', rxcui: '723', dose: 2000, perDay: 3 }),
    expect: ['allergy:high', 'dose:high'],
  },
  {
    name: 'written yesterday, validity expired last week',
    body: mr({
      authoredOn: daysAgo(1),
      dispenseRequest: { quantity: { value: 30 }, validityPeriod: { end: dateIn(-7) } },
    }),
    expect: ['refill:high'],
  },
];
