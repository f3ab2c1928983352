import type { Bundle, Encounter } from '@medplum/fhirtypes';
import type { BotHandler, BotRegistration } from '../types.ts';

const DRAFT_TAG_SYSTEM = 'https://tributary.dev/fhir/CodeSystem/note-draft';

export const registration: BotRegistration = {
  name: 'notes',
  description:
    'Drafts a progress note (SOAP, patient summary, next steps) for a finished Encounter with $draft-note, for a clinician to review.',
  triggers: ['Encounter?status=finished'],
  scopes: [
    'system/Encounter.rs',
    'system/Patient.r',
    'system/Observation.rs',
    'system/Condition.rs',
    'system/Procedure.rs',
    'system/MedicationRequest.rs',
    'system/AllergyIntolerance.rs',
    'system/Communication.rs',
    'system/DocumentReference.crs',
  ].join(' '),
  // a model's answer may take a while (LLM_TIMEOUT_MS per attempt)
  timeoutMs: 180_000,
  maxAttempts: 3,
};

/**
 * The notes bot: when an Encounter is finished, drafts its note through `POST Encounter/[id]/$draft-note` (bots/notes/
 * operation.ts) as the bot, unless a draft of this bot's already exists for it (an encounter updated again after it
 * finished gets no second draft).
 */
export const handler: BotHandler<Encounter> = async ({ resource, fhir, log }) => {
  if (!resource?.id) return { drafted: false, reason: 'no encounter' };
  const existing = await fhir.search<Bundle>('DocumentReference', {
    encounter: `Encounter/${resource.id}`,
    _tag: `${DRAFT_TAG_SYSTEM}|`,
    _count: '1',
  });
  if (existing.entry?.length) return { drafted: false, reason: 'a draft exists' };
  const res = await fhir.request('POST', `Encounter/${resource.id}/$draft-note`, { resourceType: 'Parameters' });
  log(`drafted DocumentReference/${res.resource?.id}`);
  return { drafted: true, document: `DocumentReference/${res.resource?.id}` };
};
