import { describe, text, type NoteInputs } from './facts.ts';

/** The label every offline draft starts with: a reader must never take it for a clinician's or a model's words. */
export const OFFLINE_LABEL =
  'Drafted by Tributary’s offline template from the structured record: not AI-written, not reviewed by a clinician.';

/**
 * The offline generator: the same sections as a model's draft (SOAP note, patient-friendly summary, next steps),
 * written from the structured data with fixed sentences, for when no language model is configured. It states only
 * values the record holds, each as stored, and invents no count, age or interpretation.
 */
export function offlineDraft(inputs: NoteInputs): string {
  const lines: string[] = [`# Draft progress note`, '', `_${OFFLINE_LABEL}_`, ''];
  const list = (items: string[], empty: string) => (items.length ? items.map((i) => `- ${i}`) : [`- ${empty}`]);
  const patient = inputs.patient ? describe.patient(inputs.patient) : '';
  lines.push('## SOAP note', '', '### Subjective');
  lines.push(`- Encounter: ${describe.encounter(inputs.encounter)}`);
  if (patient) lines.push(`- Patient: ${patient}`);
  lines.push(...inputs.communications.map((c) => `- Message: ${describe.communication(c)}`));
  lines.push('', '### Objective');
  lines.push(...list(inputs.observations.map(describe.observation), 'No observations recorded for this encounter.'));
  lines.push('', '### Assessment');
  lines.push(...list(inputs.conditions.map(describe.condition), 'No conditions recorded for this encounter.'));
  lines.push('', '### Plan');
  lines.push(...inputs.procedures.map((p) => `- Procedure: ${describe.procedure(p)}`));
  lines.push(...inputs.medications.map((m) => `- Medication: ${describe.medication(m)}`));
  if (!inputs.procedures.length && !inputs.medications.length)
    lines.push('- No procedures or medication requests recorded for this encounter.');
  lines.push(...inputs.allergies.map((a) => `- Allergy on record: ${describe.allergy(a)}`));
  if (inputs.withheld.length)
    lines.push(`- Not included (not readable with this access): ${inputs.withheld.join(', ')}.`);

  lines.push('', '## Patient-friendly summary', '');
  lines.push(`You had a visit: ${describe.encounter(inputs.encounter)}.`);
  const measured = unique(inputs.observations.map((o) => text(o.code)).filter(Boolean));
  if (measured.length) lines.push(`We measured or tested: ${measured.join(', ')}.`);
  const conditions = unique(inputs.conditions.map((c) => text(c.code)).filter(Boolean));
  if (conditions.length) lines.push(`Health problems noted: ${conditions.join(', ')}.`);
  const medicines = unique(inputs.medications.map((m) => describe.medication(m)));
  if (medicines.length) lines.push(`Medicines: ${medicines.join('; ')}.`);

  lines.push('', '## Next steps', '');
  lines.push('- A clinician reviews this draft, corrects it and signs it before it is used.');
  for (const m of inputs.medications) lines.push(`- Take ${describe.medication(m)} as prescribed.`);
  for (const a of inputs.allergies) lines.push(`- Avoid ${text(a.code) || 'the substance you are allergic to'}.`);
  lines.push('- Contact the care team if symptoms get worse.');
  return lines.join('\n') + '\n';
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
