import type { Device, Reference, Resource, Subscription } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { FhirRouter } from '../../server/core/router.ts';
import type { Repository } from '../../server/core/repository.ts';
import type { Delivery } from '../../server/subscriptions/deliveries.ts';
import type { BotChannel } from '../../server/subscriptions/service.ts';
import { BOT_ENDPOINT_PREFIX, type SubscriptionSpec } from '../../server/subscriptions/subscription-spec.ts';
import { SCHEDULE_PREFIX, SkipDelivery } from '../../server/subscriptions/worker.ts';
import type { BotEvent } from '../types.ts';
import { botRunAuditEvent } from './audit.ts';
import { botAccess, botDevice, botFhirHost } from './host.ts';
import { BotThreads, type RunOutcome } from './pool.ts';
import type { BotDefinition } from './registrations.ts';
import { BotScheduler } from './scheduler.ts';

/** What the runtime needs once the server runs. */
export interface BotStartOptions {
  router: FhirRouter;
  repo: Repository;
  pool: pg.Pool;
  fhirBase: string;
  /** Wakes the delivery worker (a scheduled run was queued). */
  kick(): void;
}

/**
 * The bots of this node: their identities (a Device each, `Device/bot-<name>`, whose status enables or disables the
 * bot), their trigger Subscriptions (`Subscription/bot-<name>-<n>`, channel `message` to `urn:tributary:bot:<name>`),
 * their schedules, and their worker threads. It is the subscription service's bot channel: a queued notification
 * runs the bot on the notified version; the run is audited and its writes carry Provenance.
 */
export class BotRuntime implements BotChannel {
  private readonly threads = new Map<string, BotThreads>();
  private readonly byName: Map<string, BotDefinition>;
  private scheduler?: BotScheduler;
  private started?: BotStartOptions;

  constructor(
    definitions: BotDefinition[],
    private readonly defaultMaxAttempts: number,
    private readonly logger: Logger,
  ) {
    this.byName = new Map(definitions.map((d) => [d.registration.name, d]));
  }

  names(): ReadonlySet<string> {
    return new Set(this.byName.keys());
  }

  maxAttempts(bot: string): number {
    return this.byName.get(bot)?.registration.maxAttempts ?? this.defaultMaxAttempts;
  }

  maxTimeoutMs(): number {
    return Math.max(0, ...[...this.byName.values()].map((d) => d.registration.timeoutMs));
  }

  /** Registers identities and triggers, and starts the schedules. */
  async start(options: BotStartOptions): Promise<void> {
    this.started = options;
    for (const def of this.byName.values()) await this.register(def, options.repo);
    this.scheduler = new BotScheduler(options.pool, this.logger, options.kick);
    await this.scheduler.start(
      [...this.byName.values()]
        .filter((d) => d.registration.schedule)
        .map((d) => ({
          name: d.registration.name,
          schedule: d.registration.schedule as string,
          maxAttempts: this.maxAttempts(d.registration.name),
        })),
    );
  }

  async close(): Promise<void> {
    await this.scheduler?.stop();
    await Promise.all([...this.threads.values()].map((t) => t.close()));
  }

  /** The subscription service's sender for the bot channel: runs the bot; throws when the run failed. */
  deliver = async (delivery: Delivery, spec: SubscriptionSpec | undefined): Promise<void> => {
    const name = spec?.bot ?? delivery.subscriptionId.slice(SCHEDULE_PREFIX.length);
    const def = this.byName.get(name);
    if (!def) throw new Error(`no bot named ${name} is registered on this node`);
    const { repo } = this.ready();
    if (!(await this.enabled(name, repo))) throw new SkipDelivery(`bot ${name} is disabled`);
    let resource: Resource | undefined;
    let input: Reference | undefined;
    if (delivery.resourceType) {
      input = { reference: `${delivery.resourceType}/${delivery.resourceId}/_history/${delivery.versionId}` };
      if (delivery.action !== 'delete') {
        const row = await repo.vread(
          delivery.resourceType,
          delivery.resourceId as string,
          delivery.versionId as number,
        );
        resource = JSON.parse(row.content as string) as Resource;
      }
    }
    const event: BotEvent = {
      trigger: delivery.kind === 'schedule' ? 'schedule' : 'subscription',
      ...(spec ? { subscription: `Subscription/${spec.id}` } : {}),
      ...(delivery.action ? { action: delivery.action as BotEvent['action'] } : {}),
      ...(delivery.eventNumber !== null ? { eventNumber: delivery.eventNumber } : {}),
      ...(delivery.kind === 'schedule' ? { scheduledFor: delivery.dedupeKey?.split('@')[1] } : {}),
      attempt: delivery.attempts,
    };
    const outcome = await this.run(def, event, resource, input);
    if (!outcome.ok) throw new Error(outcome.error ?? 'the bot failed');
  };

  /** Runs a bot now with an input of the caller's choosing (`$execute`); the run is audited like any other. */
  async execute(name: string, resource: Resource | undefined): Promise<RunOutcome | undefined> {
    const def = this.byName.get(name);
    if (!def) return undefined;
    const input =
      resource?.id && resource.meta?.versionId
        ? { reference: `${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}` }
        : undefined;
    return this.run(def, { trigger: 'execute', attempt: 1 }, resource, input);
  }

  private async run(
    def: BotDefinition,
    event: BotEvent,
    resource: Resource | undefined,
    input: Reference | undefined,
  ): Promise<RunOutcome> {
    const { router, repo, fhirBase } = this.ready();
    const { name, scopes, timeoutMs, memoryMb } = def.registration;
    let threads = this.threads.get(name);
    if (!threads) this.threads.set(name, (threads = new BotThreads({ timeoutMs, memoryMb })));
    const access = botAccess(name, scopes);
    const host = botFhirHost({ router, repo, baseUrl: fhirBase, access, requestId: `bot:${name}`, input });
    const outcome = await threads.run({ type: 'run', moduleUrl: def.moduleUrl, resource, event }, host);
    await repo.create(botRunAuditEvent({ agent: botDevice(name), event, input, ...outcome }));
    if (!outcome.ok) this.logger.warn({ bot: name, error: outcome.error, attempt: event.attempt }, 'bot run failed');
    return outcome;
  }

  private ready(): BotStartOptions {
    if (!this.started) throw new Error('the bot runtime has not started');
    return this.started;
  }

  private async enabled(name: string, repo: Repository): Promise<boolean> {
    const row = await repo.readCurrent('Device', `bot-${name}`);
    return !!row?.content && (JSON.parse(row.content) as Device).status !== 'inactive';
  }

  /**
   * Creates (or brings up to date) the bot's Device and trigger Subscriptions, keeping the status an operator set.
   * Several nodes starting at once may race here: a conflict means another node did it.
   */
  private async register(def: BotDefinition, repo: Repository): Promise<void> {
    const { name, description } = def.registration;
    const device: Device & { id: string } = {
      resourceType: 'Device',
      id: `bot-${name}`,
      status: 'active',
      deviceName: [{ name, type: 'user-friendly-name' }],
      type: { text: 'Tributary bot' },
      note: [{ text: description }],
    };
    await upsert(repo, device, (current) => ({ ...device, status: (current as Device).status ?? 'active' }));
    const triggers = def.registration.triggers ?? [];
    for (let i = 0; i < triggers.length; i++) {
      const sub: Subscription & { id: string } = {
        resourceType: 'Subscription',
        id: `bot-${name}-${i}`,
        status: 'active',
        reason: `Triggers the ${name} bot`,
        criteria: triggers[i],
        channel: { type: 'message', endpoint: `${BOT_ENDPOINT_PREFIX}${name}` },
      };
      await upsert(repo, sub, (current) => ({
        ...sub,
        status: (current as Subscription).status === 'off' ? 'off' : 'active',
      }));
    }
  }
}

/** Writes `resource` unless an equal one is stored; an existing one is merged by `keep` (operator-set fields). */
async function upsert<T extends Resource & { id: string }>(
  repo: Repository,
  resource: T,
  keep: (current: Resource) => T,
): Promise<void> {
  try {
    const current = await repo.readCurrent(resource.resourceType, resource.id);
    const live = current?.content ? (JSON.parse(current.content) as Resource) : undefined;
    const wanted = live ? keep(live) : resource;
    if (live && sameContent(live, wanted)) return;
    await repo.update(wanted, live ? { ifMatch: current?.versionId } : {});
  } catch (err) {
    const status = (err as { status?: number; code?: string }).status;
    if (
      status !== 409 &&
      status !== 412 &&
      (err as { code?: string }).code !== '23505' &&
      (err as { code?: string }).code !== '40001'
    )
      throw err;
  }
}

function sameContent(a: Resource, b: Resource): boolean {
  const strip = (r: Resource) => JSON.stringify({ ...r, meta: undefined });
  return strip(a) === strip(b);
}
