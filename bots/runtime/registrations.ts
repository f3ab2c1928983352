import cron from 'node-cron';
import { parseResourceScope, splitScopes } from '../../server/auth/scopes.ts';
import { loadDefinitions } from '../../server/fhir/definitions.ts';
import { criteriaTrigger } from '../../server/subscriptions/subscription-spec.ts';
import type { BotRegistration } from '../types.ts';

/** A registered bot: its registration and the module that holds its handler. */
export interface BotDefinition {
  registration: Required<Pick<BotRegistration, 'timeoutMs' | 'memoryMb'>> & BotRegistration;
  moduleUrl: string;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,50}$/;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MEMORY_MB = 128;

/**
 * The bots a server runs: the built-in ones named in `enabled` (`BOTS`; `all` for every built-in bot; an unknown name
 * stops the start) and every module of the operator's (`BOT_MODULES`).
 */
export async function selectBots(builtIn: URL[], enabled: string[], modules: string[]): Promise<BotDefinition[]> {
  const available = await loadBotDefinitions(builtIn);
  const all = enabled.includes('all');
  for (const name of enabled) {
    if (name !== 'all' && !available.some((d) => d.registration.name === name)) {
      throw new Error(
        `BOTS names "${name}", which is not a built-in bot (${available.map((d) => d.registration.name).join(', ')})`,
      );
    }
  }
  const own = await loadBotDefinitions(modules);
  const chosen = [...available.filter((d) => all || enabled.includes(d.registration.name)), ...own];
  const names = chosen.map((d) => d.registration.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new Error(`two bots are named "${twice}"`);
  return chosen;
}

/**
 * Imports bot modules (each exports `registration` and `handler`) and checks their registrations: a unique name, at
 * least one trigger or a schedule, valid trigger criteria and cron pattern, and `system/` scopes only. A bad
 * registration stops the server at start, naming the module — better than a bot that silently never runs.
 */
export async function loadBotDefinitions(modules: (URL | string)[]): Promise<BotDefinition[]> {
  const out: BotDefinition[] = [];
  for (const m of modules) {
    const moduleUrl = m instanceof URL ? m.href : new URL(m, `file://${process.cwd()}/`).href;
    const mod = (await import(moduleUrl)) as { registration?: BotRegistration; handler?: unknown };
    const where = `bot module ${moduleUrl}`;
    const reg = mod.registration;
    if (!reg || typeof mod.handler !== 'function') throw new Error(`${where} must export registration and handler`);
    if (!NAME.test(reg.name))
      throw new Error(`${where}: name "${reg.name}" must be lower-case letters, digits and dashes`);
    if (out.some((d) => d.registration.name === reg.name))
      throw new Error(`${where}: a bot named "${reg.name}" is already registered`);
    if (!reg.triggers?.length && !reg.schedule) throw new Error(`${where}: a bot needs triggers or a schedule`);
    for (const t of reg.triggers ?? []) {
      try {
        criteriaTrigger(t);
      } catch (err) {
        throw new Error(`${where}: trigger "${t}": ${(err as Error).message}`);
      }
    }
    if (reg.schedule && !cron.validate(reg.schedule))
      throw new Error(`${where}: schedule "${reg.schedule}" is not a cron pattern`);
    const isType = (t: string) => loadDefinitions().resourceTypeSet.has(t);
    for (const scope of splitScopes(reg.scopes)) {
      if (parseResourceScope(scope, isType)?.context !== 'system')
        throw new Error(`${where}: scope "${scope}" is not a system/ resource scope`);
    }
    out.push({ registration: { timeoutMs: DEFAULT_TIMEOUT_MS, memoryMb: DEFAULT_MEMORY_MB, ...reg }, moduleUrl });
  }
  return out;
}
