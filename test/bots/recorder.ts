import type { BotHandler, BotRegistration } from '../../bots/types.ts';

/** Test bot: records each version it runs on as a Basic (idempotent: one Basic per input version). */
export const registration: BotRegistration = {
  name: 'recorder',
  description: 'Records every Observation version with code bot-test it runs on.',
  triggers: ['Observation?code=bot-test'],
  scopes: 'system/Basic.cruds system/Observation.rs',
  timeoutMs: 10_000,
  maxAttempts: 20,
};

export const handler: BotHandler = async ({ resource, event, fhir }) => {
  const key = `${resource?.resourceType}/${resource?.id}/${resource?.meta?.versionId}`;
  await fhir.request('PUT', `Basic?identifier=urn:test:bot-run|${encodeURIComponent(key)}`, {
    resourceType: 'Basic',
    identifier: [{ system: 'urn:test:bot-run', value: key }],
    code: { text: `run for ${event.action} #${event.eventNumber}` },
  });
  return { recorded: key };
};
