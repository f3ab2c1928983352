import { listEnv } from '../server/env.ts';
import type { DoorStatus } from '../server/core/door.ts';
import type { TributaryDoor } from '../server/host/host.ts';
import { loadSubscriptionConfig } from '../server/subscriptions/config.ts';
import { BUILT_IN_BOTS } from './index.ts';
import { addBotOperations } from './runtime/execute.ts';
import { selectBots } from './runtime/registrations.ts';
import { BotRuntime } from './runtime/runtime.ts';

/**
 * The bots as a door of the server: the built-in bots `BOTS` names and the operator's `BOT_MODULES` (a bad
 * registration stops the start, naming the module), their identities, triggers and schedules, the subscription
 * service's bot channel, and `Device/[id]/$execute`. Down (disabled) when neither names a bot. Starts before the
 * subscription worker, which delivers to it.
 */
export function botsDoor(): TributaryDoor {
  let runtime: BotRuntime | undefined;
  let status: DoorStatus = { name: 'bots', state: 'starting' };
  return {
    name: 'bots',
    async start(host) {
      const definitions = await selectBots(BUILT_IN_BOTS, listEnv(host.env, 'BOTS'), listEnv(host.env, 'BOT_MODULES'));
      runtime = new BotRuntime(definitions, loadSubscriptionConfig(host.env).maxAttempts, host.logger);
      host.subscriptions.useBots(runtime);
      addBotOperations(host.router, runtime);
      await runtime.start({
        router: host.router,
        repo: host.repo,
        pool: host.pool,
        fhirBase: host.fhirBase,
        kick: () => host.subscriptions.kick(),
      });
      status =
        definitions.length > 0
          ? { name: 'bots', state: 'up' }
          : { name: 'bots', state: 'disabled', reason: 'BOTS and BOT_MODULES name no bot' };
    },
    async stop() {
      await runtime?.close();
      status = { ...status, state: status.state === 'up' ? 'down' : status.state };
    },
    status: () => status,
  };
}
