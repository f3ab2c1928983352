import type { OperationOutcome, Task } from '@medplum/fhirtypes';
import { BotFhirError, type BotHandler, type BotRegistration } from '../types.ts';

/** The Task code that asks the notes bot for a draft: `Task.code` = this system and `draft-note`. */
export const DRAFT_TASK_SYSTEM = 'https://tributary.dev/fhir/CodeSystem/notes-task';

export const registration: BotRegistration = {
  name: 'notes',
  description:
    'Drafts a progress note (SOAP, patient summary, next steps) with $draft-note for the Encounter a requested Task focuses on.',
  triggers: [`Task?code=${DRAFT_TASK_SYSTEM}|draft-note&status=requested`],
  scopes: [
    'system/Task.rus',
    'system/Encounter.rs',
    'system/Patient.r',
    'system/Observation.rs',
    'system/Condition.rs',
    'system/Procedure.rs',
    'system/MedicationRequest.rs',
    'system/AllergyIntolerance.rs',
    'system/Communication.rs',
    'system/DocumentReference.c',
  ].join(' '),
  // a model's answer may take a while (LLM_TIMEOUT_MS per attempt)
  timeoutMs: 180_000,
  maxAttempts: 3,
};

/**
 * The notes bot, for systems that ask asynchronously: a Task (status `requested`, code `draft-note`, focus the
 * Encounter) gets its note drafted through `POST Encounter/[id]/$draft-note` as the bot, and is then `completed` with
 * the DocumentReference as its output, or `failed` with the reason when the request cannot succeed (4xx); a model
 * failure (5xx) fails the run, which is retried. Drafting is never automatic: an import of finished encounters must
 * not send a whole history to a model.
 */
export const handler: BotHandler<Task> = async ({ resource: task, fhir, log }) => {
  if (!task?.id) return { drafted: false, reason: 'no task' };
  const encounterId = /^Encounter\/([A-Za-z0-9\-.]{1,64})$/.exec(task.focus?.reference ?? '')?.[1];
  if (!encounterId) {
    await fhir.update<Task>({ ...task, status: 'rejected', statusReason: { text: 'Task.focus must be an Encounter' } });
    return { drafted: false, reason: 'focus is not an Encounter' };
  }
  const res = await fhir.request('POST', `Encounter/${encounterId}/$draft-note`, { resourceType: 'Parameters' });
  if (res.status >= 500) throw new BotFhirError(res.status, res.resource as OperationOutcome | undefined);
  if (res.status >= 400 || res.resource?.resourceType !== 'DocumentReference') {
    const reason = new BotFhirError(res.status, res.resource as OperationOutcome | undefined).message.slice(0, 1000);
    await fhir.update<Task>({ ...task, status: 'failed', statusReason: { text: reason } });
    return { drafted: false, reason };
  }
  const document = `DocumentReference/${res.resource.id}`;
  await fhir.update<Task>({
    ...task,
    status: 'completed',
    output: [{ type: { text: 'Draft progress note' }, valueReference: { reference: document } }],
  });
  log(`drafted ${document}`);
  return { drafted: true, document };
};
