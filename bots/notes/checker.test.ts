import type { Resource } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { checkDraft, collectEvidence, unsupportedValues } from './checker.ts';

const inputs: Resource[] = [
  {
    resourceType: 'Observation',
    id: '99999',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8310-5', display: 'Body temperature' }] },
    effectiveDateTime: '2024-03-04T09:10:00-05:00',
    valueQuantity: { value: 38.2, unit: 'Cel' },
  },
  {
    resourceType: 'MedicationRequest',
    id: '12345',
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/777' },
    medicationCodeableConcept: {
      coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '308182' }],
      text: 'Amoxicillin 500 MG Oral Capsule',
    },
    dosageInstruction: [{ doseAndRate: [{ doseQuantity: { value: 1 } }], timing: { repeat: { frequency: 3 } } }],
  },
  {
    resourceType: 'Condition',
    subject: { reference: 'Patient/777' },
    code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'E11.9', display: 'Type 2 diabetes' }] },
    onsetDateTime: '2019-11-20',
  },
];
const evidence = collectEvidence(inputs);
const values = (text: string) => unsupportedValues(text, evidence).map((v) => `${v.kind}:${v.value}`);

describe('the value checker', () => {
  it('finds every value of the inputs, however a date is written', () => {
    for (const text of [
      'Temperature 38.2 Cel on 2024-03-04.',
      'On March 4, 2024 the temperature was 38.2.',
      'Seen 4 March 2024; diabetes since November 2019 (onset 11/20/2019).',
      'Amoxicillin 500 mg, 1 capsule 3 times a day (RxNorm 308182).',
      'Type 2 diabetes (E11.9), LOINC 8310-5.',
      'The reading was taken on 2024-03-04T09:10:00-05:00.',
    ])
      expect(values(text), text).toEqual([]);
  });

  it('names each value the inputs do not hold, by kind', () => {
    expect(values('Temperature 39.1 Cel.')).toEqual(['number:39.1']);
    expect(values('Seen on 2024-03-05 and March 6, 2024.')).toEqual(['date:2024-03-05', 'date:March 6, 2024']);
    expect(values('Amoxicillin 250 mg twice a day.')).toEqual(['dose:250 mg']);
    expect(values('Started metoprolol.')).toEqual(['drug:metoprolol']);
    expect(values('Coded as I10 and E11.65.')).toEqual(['code:I10', 'code:E11.65']);
    expect(values('Pressure range 120-130.')).toEqual(['number:120']);
    expect(values('4 capsules a day, seen 4 times in 2023.')).toEqual(['date:2023', 'dose:4 capsules', 'number:4']);
  });

  it('takes no evidence from the server’s identifiers (ids, references)', () => {
    expect(values('Patient 777 order 12345 result 99999.')).toEqual(['number:777', 'number:12345', 'number:99999']);
  });

  it('does not take words for drugs or dates for numbers', () => {
    expect(values('Seen in April for a routine review, the patient is peaceful.')).toEqual([]);
    expect(values('- Hemoglobin A1c is not recorded')).toEqual(['code:A1c']);
  });

  it('marks each sentence with an unsupported value, and only those', () => {
    const { findings, marked } = checkDraft(
      '## Plan\nTemperature 38.2 Cel. Start warfarin 5 mg daily. Review in clinic.\n- Amoxicillin 500 MG Oral Capsule',
      evidence,
    );
    expect(findings).toEqual([
      {
        sentence: 'Start warfarin 5 mg daily.',
        values: [
          { kind: 'dose', value: '5 mg' },
          { kind: 'drug', value: 'warfarin' },
        ],
      },
    ]);
    expect(marked).toBe(
      '## Plan\nTemperature 38.2 Cel. Start warfarin 5 mg daily. [unverified: 5 mg; warfarin] Review in clinic.\n- Amoxicillin 500 MG Oral Capsule',
    );
  });
});
