import { siblingModule } from '../server/project.ts';

/**
 * The bots that ship with Tributary: each module exports `registration` (bots/types.ts) and `handler`. None runs
 * unless `BOTS` names it (`BOTS=flag-out-of-range`); operators add their own with `BOT_MODULES` (paths to modules of
 * the same shape). Bots run in worker threads (bots/runtime/).
 */
export const BUILT_IN_BOTS: URL[] = [
  siblingModule('./flag-out-of-range', import.meta.url),
  siblingModule('./triage/news2', import.meta.url),
  siblingModule('./triage/symptom-triage', import.meta.url),
  siblingModule('./notes/bot', import.meta.url),
  siblingModule('./prescription-validation/bot', import.meta.url),
  siblingModule('./refills/bot', import.meta.url),
  siblingModule('./adherence/bot', import.meta.url),
];
