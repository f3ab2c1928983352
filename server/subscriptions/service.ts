import type { Resource, Subscription } from '@medplum/fhirtypes';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import pg from 'pg';
import type { Door, DoorStatus } from '../core/door.ts';
import type { FhirRouter, RouteGuard } from '../core/router.ts';
import type { AccessContext } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import type { SubscriptionConfig } from './config.ts';
import { eventCount, leaseOwner, purgeDelivered, type Delivery, type DeliveryStatus } from './deliveries.ts';
import { EndpointPolicy } from './endpoint-policy.ts';
import { NOTIFY, OutboxFanout } from './fanout.ts';
import { addSubscriptionOperations } from './handlers.ts';
import { Heartbeats } from './heartbeats.ts';
import { TriggerMatcher } from './matcher.ts';
import { outgoingNotification } from './outgoing.ts';
import { subscriptionOwnerGuard } from './owner.ts';
import { judgeVersion, readerOfSnapshot } from './readers.ts';
import { SubscriptionRegistry } from './registry.ts';
import { postNotification } from './rest-hook.ts';
import { SpecSource } from './spec-source.ts';
import { subscriptionRule } from './subscription-rules.ts';
import type { SubscriptionSpec } from './subscription-spec.ts';
import { WEBSOCKET_PATH, WebsocketHub } from './websocket.ts';
import { DeliveryWorker, SkipDelivery, type Send } from './worker.ts';

/** How often old delivered notifications are purged. */
const PURGE_MS = 3600_000;
/** Longest a NOTIFY about local writes is held back to coalesce a burst of commits into one. */
const NOTIFY_COALESCE_MS = 5;

/** The bots the subscription machinery can deliver to (bots/runtime). */
export interface BotChannel {
  /** Names of the registered bots. */
  names(): ReadonlySet<string>;
  /** Attempts before a bot's notification is dead-lettered. */
  maxAttempts(bot: string): number;
  /** Longest a bot run may take (the delivery lease must outlast it). */
  maxTimeoutMs(): number;
  /** Runs a bot for a queued notification; throws when the run failed. */
  deliver: Send;
}

/** What the running service needs from the server (server/host's Host provides it). */
export interface SubscriptionHost {
  pool: pg.Pool;
  databaseUrl: string;
  repo: Repository;
  router: FhirRouter;
  fhirBase: string;
  http: {
    /** Serves the websocket's upgrades on the HTTP port. */
    upgrade(path: string, handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): void;
  };
  auth: {
    /** The access of a bearer token (server/auth), for websocket clients: undefined when missing, invalid or revoked. */
    resolveAccess(token: string | undefined): Promise<AccessContext | undefined>;
    /** Registers for news that a client's tokens may have been revoked (server/auth): its websockets are checked. */
    onRevoked(listener: (clientId: string) => void): void;
  };
}

/** The subscription service of one node: a door (server/core/door.ts) once the server runs. */
export interface SubscriptionService extends Door<SubscriptionHost> {
  /** The write rule for Subscriptions and topics (part of the Repository's write check). */
  writeRule(resource: Resource): Promise<Resource | undefined>;
  /** The router guard that records who wrote each Subscription (owner.ts); inside the access guard. */
  guard: RouteGuard;
  /** The bots notifications of `message` channels run (bots/); set before the service starts. */
  useBots(channel: BotChannel): void;
  /** Call after every local commit of a write: wakes the outbox reader. */
  onCommit(): void;
  /** True while this node reads the outbox. */
  isReader(): boolean;
  /** Wakes this node's delivery worker (new notifications were queued outside the outbox, e.g. a bot schedule). */
  kick(): void;
}

/**
 * Subscriptions end to end: the write rule (valid, deliverable, allowed endpoints), the outbox reader that turns
 * committed writes into queued notifications (fanout.ts), the delivery worker (worker.ts) with its rest-hook and bot
 * channels, the operations, and the retention purge. Design: server/subscriptions/README.md.
 */
export function createSubscriptionService(config: SubscriptionConfig, logger: Logger): SubscriptionService {
  let bots: BotChannel | undefined;
  let state: DoorStatus['state'] = 'starting';
  const policy = new EndpointPolicy(config.allowedHosts);
  const knownBots = () => bots?.names() ?? new Set<string>();
  let repoRef: Repository | undefined;
  const rule = subscriptionRule({ policy, knownBots, repo: () => repoRef as Repository });
  let fanout: OutboxFanout | undefined;
  let worker: DeliveryWorker | undefined;
  let listener: pg.Client | undefined;
  let hub: WebsocketHub | undefined;
  let heartbeats: Heartbeats | undefined;
  let owner = '';
  let closing = false;
  let purgeTimer: NodeJS.Timeout | undefined;
  let notifyTimer: NodeJS.Timeout | undefined;
  let pool: pg.Pool | undefined;

  const onCommit = () => {
    if (!fanout) return;
    fanout.wake();
    // Another node may be the reader: tell it, coalescing bursts of commits into one NOTIFY.
    if (fanout.isReader || notifyTimer) return;
    notifyTimer = setTimeout(() => {
      notifyTimer = undefined;
      pool?.query(`SELECT pg_notify('${NOTIFY.outbox}', '')`).catch(() => {});
    }, NOTIFY_COALESCE_MS);
  };

  return {
    name: 'subscriptions',
    status: () => ({ name: 'subscriptions', state }),
    useBots: (channel) => {
      bots = channel;
    },
    writeRule: rule,
    guard: subscriptionOwnerGuard(),
    onCommit,
    isReader: () => !!fanout?.isReader,
    kick: () => worker?.kick(),
    async start(host) {
      const options = {
        ...host,
        resolveAccess: host.auth.resolveAccess,
        onRevoked: host.auth.onRevoked,
      };
      pool = options.pool;
      repoRef = options.repo;
      const specs = new SpecSource(options.pool, options.repo, knownBots);
      const registry = new SubscriptionRegistry();
      const maxAttempts = (spec: SubscriptionSpec) =>
        spec.maxAttempts ?? (spec.bot && bots ? bots.maxAttempts(spec.bot) : config.maxAttempts);
      fanout = new OutboxFanout({
        databaseUrl: options.databaseUrl,
        registry,
        matcher: new TriggerMatcher(options.repo, () => options.fhirBase),
        logger,
        readSpec: (sub) => specs.read(sub),
        topicsChanged: () => specs.topicsChanged(),
        loadAll: () => loadSubscriptions(options.pool),
        maxAttempts,
        onChange: (after, before) => handshakeFor(after, before, maxAttempts),
        onQueued: (ids) => heartbeats?.queued(ids),
      });
      heartbeats = new Heartbeats(
        options.pool,
        registry,
        () => !!fanout?.isReader,
        maxAttempts,
        () => worker?.kick(),
      );
      const restHook: Send = async (delivery, spec) => {
        // Checked again here: a Subscription stored without the write rule (VALIDATE_WRITES=off) gets no further.
        policy.checkUrl(spec?.endpoint ?? '', 'Subscription.channel.endpoint');
        // Only what the Subscription's owner may read goes out; the rest is not sent at all (readers.ts).
        if (spec?.owner && delivery.resourceType) {
          const judged = await judgeVersion(
            options.repo,
            readerOfSnapshot(spec.owner),
            delivery.resourceType,
            delivery.resourceId as string,
            delivery.versionId as number,
            false,
          );
          if (!judged.visible) throw new SkipDelivery("outside what the Subscription's owner may read");
        }
        const n = await outgoingNotification(spec as SubscriptionSpec, delivery, {
          baseUrl: options.fhirBase,
          maxPayloadBytes: config.maxPayloadBytes,
          loadVersion: async (type, id, v) =>
            (await options.repo.vread(type, id, v).catch(() => undefined))?.content ?? undefined,
          eventCount: (id) => eventCount(options.pool, id),
        });
        await postNotification(n, config.timeoutMs, policy.lookup());
      };
      worker = new DeliveryWorker({
        pool: options.pool,
        logger,
        concurrency: config.concurrency,
        leaseMs: Math.max(config.timeoutMs, bots?.maxTimeoutMs() ?? 0) + 30_000,
        owner: () => owner,
        retryBaseMs: config.retryBaseMs,
        retryMaxMs: config.retryMaxMs,
        loadSpecs: (ids) => specs.load(ids),
        send: {
          'rest-hook': restHook,
          websocket: async () => {},
          bot: bots?.deliver ?? (async () => Promise.reject(new Error('no bots are registered'))),
        },
        onOutcome: (spec, delivery, status, error) => keepStatus(options.repo, spec, delivery, status, error),
      });
      const websocketUrl = `${new URL(options.fhirBase).origin.replace(/^http/, 'ws')}${WEBSOCKET_PATH}`;
      addSubscriptionOperations(options.router, {
        pool: options.pool,
        specs,
        websocketUrl: () => websocketUrl,
        kick: () => worker?.kick(),
      });
      options.router.capabilities.addStatementContributor((cs) => {
        const rest = cs.rest?.[0];
        if (rest)
          rest.extension = [
            ...(rest.extension ?? []),
            { url: 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket', valueUri: websocketUrl },
          ];
      });
      hub = new WebsocketHub({
        pool: options.pool,
        repo: options.repo,
        specs,
        baseUrl: options.fhirBase,
        logger,
        resolveAccess: options.resolveAccess,
        mayRead: async (access, id) => {
          const ctx = { repo: options.repo, baseUrl: options.fhirBase, requestId: 'websocket', access };
          const res = await options.router
            .handle(ctx, { method: 'GET', path: `Subscription/${id}`, query: {}, headers: {} })
            .catch(() => undefined);
          return res?.status === 200;
        },
      });
      hub.attach(host.http.upgrade);
      options.onRevoked(
        (clientId) =>
          void hub?.revoked(clientId).catch((err) => logger.error({ err }, 'closing revoked websockets failed')),
      );
      // The listener hears about new notifications, and its session vouches for this node's delivery leases
      // (deliveries.ts claimDue). If it drops, it is reconnected; leases taken under the old session may then be
      // taken over by another node (at-least-once delivery covers that).
      const listen = async (): Promise<void> => {
        const client = new pg.Client({
          connectionString: options.databaseUrl,
          application_name: 'tributary-subscriptions',
        });
        let retried = false;
        const retry = (err?: Error) => {
          if (retried || closing) return;
          retried = true;
          logger.error({ err }, 'subscription listener connection lost; reconnecting');
          void client.end().catch(() => {});
          setTimeout(() => void listen().catch(retry), 1000).unref();
        };
        client.on('error', retry);
        client.on('end', () => retry());
        client.on('notification', (n) => {
          if (n.channel === NOTIFY.deliveries) worker?.kick();
          else if (n.channel === NOTIFY.websocket) hub?.notify(n.payload ?? '*');
        });
        await client.connect();
        await client.query(`LISTEN ${NOTIFY.deliveries}; LISTEN ${NOTIFY.websocket}`);
        owner = await leaseOwner(client);
        listener = client;
        worker?.kick();
        hub?.notify('*');
      };
      await listen();
      fanout.start();
      worker.start();
      heartbeats.start();
      purgeTimer = setInterval(
        () => void purgeDelivered(options.pool, config.retentionDays).catch(() => {}),
        PURGE_MS,
      ).unref();
      state = 'up';
    },
    async stop() {
      state = 'down';
      closing = true;
      clearInterval(purgeTimer);
      clearTimeout(notifyTimer);
      heartbeats?.stop();
      await fanout?.stop();
      await worker?.stop();
      await hub?.close();
      await listener?.end().catch(() => {});
    },
  };
}

/** Every stored Subscription (the reader's registry is built from them). */
async function loadSubscriptions(pool: pg.Pool): Promise<Subscription[]> {
  const { rows } = await pool.query<{ content: string }>(
    `SELECT content FROM resource WHERE resource_type = 'Subscription' AND NOT deleted`,
  );
  return rows.map((r) => JSON.parse(r.content) as Subscription);
}

/** A topic-based rest-hook subscription that has just become active gets a handshake (backport IG). */
function handshakeFor(
  after: SubscriptionSpec | undefined,
  before: SubscriptionSpec | undefined,
  maxAttempts: (s: SubscriptionSpec) => number,
) {
  if (!after?.topic || after.channel !== 'rest-hook' || after.status !== 'active' || before?.status === 'active')
    return [];
  return [
    { subscriptionId: after.id, kind: 'handshake' as const, channel: after.channel, maxAttempts: maxAttempts(after) },
  ];
}

/**
 * Keeps `Subscription.status` in step with delivery: `error` (with the reason in `Subscription.error`) once a
 * notification is dead-lettered, back to `active` after the next successful delivery. Events keep being queued and
 * attempted while in error, so nothing is lost.
 */
async function keepStatus(
  repo: Repository,
  spec: SubscriptionSpec | undefined,
  delivery: Delivery,
  status: DeliveryStatus,
  error?: string,
): Promise<void> {
  if (!spec) return;
  const wanted = status === 'dead' ? 'error' : status === 'delivered' && spec.status === 'error' ? 'active' : undefined;
  if (!wanted || wanted === spec.status) return;
  await repo.transaction(async (tx) => {
    const current = await tx.readForUpdate('Subscription', spec.id);
    const sub = JSON.parse(current.content as string) as Subscription;
    if (sub.status === 'off' || sub.status === wanted) return;
    const next: Subscription = { ...sub, status: wanted };
    if (wanted === 'error')
      next.error =
        `Notification ${delivery.eventNumber ?? delivery.kind} failed ${delivery.attempts} times: ${error ?? ''}`.slice(
          0,
          1000,
        );
    else delete next.error;
    await tx.update(next as Subscription & { id: string }, { ifMatch: current.versionId });
  });
}
