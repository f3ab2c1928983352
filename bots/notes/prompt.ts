import type { ChatMessage } from './llm.ts';
import { describe, type NoteInputs } from './facts.ts';

const INSTRUCTIONS = `You draft clinical documentation for a clinician to review. Write in English, in Markdown, with
exactly these sections: "## SOAP note" (with "### Subjective", "### Objective", "### Assessment", "### Plan"),
"## Patient-friendly summary" (plain words a patient understands, no jargon) and "## Next steps" (bullet points).
Use ONLY the facts given. Every number, date, code, drug name and dose you write must appear in the facts exactly as
written there: copy values and units verbatim, write dates as YYYY-MM-DD as given, do not convert units, do not
compute ages, durations, totals or counts, do not number lists (use "-" bullets), and do not name a drug, dose or test
that is not in the facts. If something is unknown, say it is not recorded.`;

/** The chat messages for a draft: the rules, then the record's facts (one per line, grouped by kind). */
export function draftMessages(inputs: NoteInputs): ChatMessage[] {
  const groups: [string, string[]][] = [
    ['Encounter', [describe.encounter(inputs.encounter)]],
    ['Patient', inputs.patient ? [describe.patient(inputs.patient)] : []],
    ['Observations', inputs.observations.map(describe.observation)],
    ['Conditions', inputs.conditions.map(describe.condition)],
    ['Procedures', inputs.procedures.map(describe.procedure)],
    ['Medication requests', inputs.medications.map(describe.medication)],
    ['Allergies', inputs.allergies.map(describe.allergy)],
    ['Messages', inputs.communications.map(describe.communication)],
  ];
  const facts = groups
    .filter(([, lines]) => lines.length)
    .map(([name, lines]) => `${name}:\n${lines.map((l) => `- ${l}`).join('\n')}`)
    .join('\n\n');
  return [
    { role: 'system', content: INSTRUCTIONS.replace(/\n/g, ' ') },
    { role: 'user', content: `Facts of the encounter:\n\n${facts}\n\nDraft the note.` },
  ];
}
