import type { BotHandler, BotRegistration } from '../../bots/types.ts';

/** Test bot on a schedule (every second): records the slot it ran for. */
export const registration: BotRegistration = {
  name: 'ticker',
  description: 'Runs every second.',
  schedule: '* * * * * *',
  scopes: 'system/Basic.cu',
  timeoutMs: 5000,
};

export const handler: BotHandler = async ({ event, fhir }) => {
  await fhir.create({ resourceType: 'Basic', code: { text: `tick ${event.scheduledFor}` } });
  return { slot: event.scheduledFor };
};
