import { describe, expect, it } from 'vitest';
import { BUILT_IN_BOTS } from '../index.ts';
import { selectBots } from './registrations.ts';

describe('BOTS', () => {
  it('`all` runs every built-in bot; names pick some; an unknown name stops the start', async () => {
    const every = (await selectBots(BUILT_IN_BOTS, ['all'], [])).map((d) => d.registration.name);
    expect(every.length).toBe(BUILT_IN_BOTS.length);
    expect(every).toEqual(expect.arrayContaining(['flag-out-of-range', 'news2', 'symptom-triage', 'notes']));
    const some = (await selectBots(BUILT_IN_BOTS, ['news2'], [])).map((d) => d.registration.name);
    expect(some).toEqual(['news2']);
    expect(await selectBots(BUILT_IN_BOTS, [], [])).toEqual([]);
    await expect(selectBots(BUILT_IN_BOTS, ['all', 'no-such-bot'], [])).rejects.toThrow(/no-such-bot/);
  });
});
