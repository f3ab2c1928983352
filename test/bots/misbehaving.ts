import type { BotHandler, BotRegistration } from '../../bots/types.ts';

/**
 * Test bot that misbehaves as its trigger's code says: `throw` throws, `hang` loops forever, `oom` allocates until
 * its thread runs out of memory, `forbidden` writes outside its scopes.
 */
export const registration: BotRegistration = {
  name: 'misbehaving',
  description: 'Fails in the way the Observation asks it to.',
  triggers: ['Observation?code=throw,hang,oom,forbidden'],
  scopes: 'system/Observation.rs',
  timeoutMs: 3000,
  maxAttempts: 2,
  memoryMb: 32,
};

export const handler: BotHandler = async ({ resource, fhir, log }) => {
  const code = (resource as { code?: { coding?: { code?: string }[] } })?.code?.coding?.[0]?.code;
  log(`misbehaving: ${code}`);
  if (code === 'throw') throw new Error('boom: the bot threw');
  if (code === 'hang') for (;;);
  if (code === 'oom') {
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array(1_000_000).fill(Math.random()));
  }
  if (code === 'forbidden') await fhir.create({ resourceType: 'Patient', name: [{ family: 'NotAllowed' }] });
  return { code };
};
