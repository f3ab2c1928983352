import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import type { CheckIn } from './symptom-checkins.ts';

/** A response to a check-in: `answers` by question id (true/false for yes/no, numbers for numbers); the rest "no". */
export function responseOf(
  c: CheckIn,
  answers: Record<string, boolean | number> = {},
  subject?: string,
): QuestionnaireResponse {
  return {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    subject: subject ? { reference: subject } : undefined,
    questionnaire: `https://tributary.dev/fhir/Questionnaire/symptom-${c.name}|1.0.0`,
    item: c.questions.map((q) => {
      const v = answers[q.id];
      if (q.type !== 'yes-no') {
        const value = q.type === 'integer' ? { valueInteger: v as number } : { valueDecimal: v as number };
        return v === undefined ? { linkId: q.id } : { linkId: q.id, answer: [value] };
      }
      const yes = v === true;
      return {
        linkId: q.id,
        answer: [{ valueCoding: { system: 'http://loinc.org', code: yes ? 'LA33-6' : 'LA32-8' } }],
      };
    }),
  };
}
