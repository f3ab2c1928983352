import type { Bundle, Parameters, ParametersParameter, Resource, Subscription } from '@medplum/fhirtypes';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { badRequest, unprocessable } from '../fhir/outcomes.ts';
import type { FhirRouter } from '../core/router.ts';
import { requireValidId } from '../core/router.ts';
import type { FhirContext, FhirHandler, FhirRequest } from '../core/types.ts';
import { eventCount, eventsSince, listDead, resendDead, type Delivery } from './deliveries.ts';
import { eventsOf, notificationBundle } from './notification-bundle.ts';
import { judgeVersion, readableEvents, readerOf } from './readers.ts';
import type { SpecSource } from './spec-source.ts';
import type { PayloadContent, SubscriptionSpec } from './subscription-spec.ts';

/** How long a websocket binding token may be used to bind. */
const BINDING_TOKEN_TTL_S = 600;
const MAX_EVENTS = 1000;

/** What the operations need. */
export interface OperationDeps {
  pool: pg.Pool;
  specs: SpecSource;
  /** URL clients connect their websocket to. */
  websocketUrl(): string;
  /** Wakes this node's delivery worker (requeued notifications). */
  kick(): void;
}

/**
 * Registers the subscription operations (Subscriptions R5 Backport IG plus Tributary's dead letter):
 * `$status`, `$events`, `$get-ws-binding-token` on a Subscription, and `$dead-letter` / `$resend` on one or on
 * all of them.
 */
export function addSubscriptionOperations(router: FhirRouter, deps: OperationDeps): void {
  const base = 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription';
  router.capabilities
    .defineOperation('status', `${base}-status`)
    .defineOperation('events', `${base}-events`)
    .defineOperation('get-ws-binding-token', `${base}-get-ws-binding-token`)
    .defineOperation('dead-letter', 'https://tributary.dev/fhir/OperationDefinition/subscription-dead-letter')
    .defineOperation('resend', 'https://tributary.dev/fhir/OperationDefinition/subscription-resend');
  router
    .add('GET', 'Subscription/:id/$status', 'status', statusHandler(deps), 'read')
    .add('GET', 'Subscription/:id/$events', 'events', eventsHandler(deps), 'read')
    .add('GET', 'Subscription/:id/$get-ws-binding-token', 'get-ws-binding-token', bindingTokenHandler(deps), 'read')
    .add('POST', 'Subscription/:id/$get-ws-binding-token', 'get-ws-binding-token', bindingTokenHandler(deps), 'read')
    .add('GET', 'Subscription/$dead-letter', 'dead-letter', deadLetterHandler(deps), 'unrestricted')
    .add('GET', 'Subscription/:id/$dead-letter', 'dead-letter', deadLetterHandler(deps), 'unrestricted')
    .add('POST', 'Subscription/$resend', 'resend', resendHandler(deps), 'unrestricted')
    .add('POST', 'Subscription/:id/$resend', 'resend', resendHandler(deps), 'unrestricted');
}

/** The Subscription (404/410 as for a read) in its delivery form. */
async function subscriptionOf(ctx: FhirContext, deps: OperationDeps, id: string): Promise<SubscriptionSpec> {
  requireValidId(id);
  const stored = await ctx.repo.read('Subscription', id);
  const spec = await deps.specs.read(JSON.parse(stored.content as string) as Subscription);
  if (!spec) throw unprocessable(`Subscription/${id} cannot be delivered`);
  return spec;
}

function statusHandler(deps: OperationDeps): FhirHandler {
  return async (ctx, _req, { id }) => {
    const spec = await subscriptionOf(ctx, deps, id);
    const status = notificationBundle({
      baseUrl: ctx.baseUrl,
      spec,
      type: 'query-status',
      eventsSinceStart: await eventCount(deps.pool, id),
    }).entry?.[0].resource as Resource;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: 1,
      entry: [{ resource: status, search: { mode: 'match' } }],
    };
    return { status: 200, resource: bundle };
  };
}

function eventsHandler(deps: OperationDeps): FhirHandler {
  return async (ctx, req, { id }) => {
    const spec = await subscriptionOf(ctx, deps, id);
    const since = intParam(req, 'eventsSinceNumber') ?? 0;
    const until = intParam(req, 'eventsUntilNumber');
    const content = (req.query.content?.[0] ?? 'id-only') as PayloadContent;
    if (!['empty', 'id-only', 'full-resource'].includes(content))
      throw badRequest('content must be empty, id-only or full-resource', 'content');
    const logged = eventsOf(await eventsSince(deps.pool, id, Math.max(0, since - 1), until, MAX_EVENTS));
    // Only events about versions the caller may read, whatever the content asked for (readers.ts).
    const events = await readableEvents(ctx.repo, readerOf(ctx.access), logged, content === 'full-resource');
    const eventsSinceStart = await eventCount(deps.pool, id);
    return {
      status: 200,
      resource: notificationBundle({
        baseUrl: ctx.baseUrl,
        spec,
        type: 'query-event',
        eventsSinceStart,
        events,
        content,
      }),
    };
  };
}

/**
 * `$get-ws-binding-token`: a token that binds a websocket to the Subscription with the caller's own access. It is
 * tied to the caller's access token (it binds only while that token is valid, and expires with it at the latest):
 * revoking the access token, or deleting its client, ends the binding token too (websocket.ts).
 */
function bindingTokenHandler(deps: OperationDeps): FhirHandler {
  return async (ctx, _req, { id }) => {
    const spec = await subscriptionOf(ctx, deps, id);
    if (spec.channel !== 'websocket') throw unprocessable(`Subscription/${id} does not use the websocket channel`);
    const token = randomBytes(24).toString('base64url');
    const credential = ctx.access.credential;
    const { rows } = await deps.pool.query<{ expires: string }>(
      `INSERT INTO ws_binding_token (token, subscription_ids, expires_at, access_token)
       VALUES ($1, $2, least(now() + $3 * interval '1 second', coalesce(to_timestamp($4), 'infinity')), $5)
       RETURNING to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS expires`,
      [token, [id], BINDING_TOKEN_TTL_S, credential?.expiresAt ?? null, credential?.token ?? null],
    );
    await deps.pool.query('DELETE FROM ws_binding_token WHERE expires_at < now()');
    const parameter: ParametersParameter[] = [
      { name: 'token', valueString: token },
      { name: 'expiration', valueDateTime: rows[0].expires },
      { name: 'subscription', valueString: `${ctx.baseUrl}/Subscription/${id}` },
      { name: 'websocket-url', valueUrl: deps.websocketUrl() },
    ];
    return { status: 200, resource: { resourceType: 'Parameters', parameter } as Parameters };
  };
}

function deadLetterHandler(deps: OperationDeps): FhirHandler {
  return async (ctx, _req, { id }) => {
    if (id) await subscriptionOf(ctx, deps, id);
    const dead: Delivery[] = [];
    // Like events: a dead notification about a version the caller may not read is not listed.
    const reader = readerOf(ctx.access);
    for (const d of await listDead(deps.pool, id)) {
      if (
        !d.resourceType ||
        (await judgeVersion(ctx.repo, reader, d.resourceType, d.resourceId as string, d.versionId as number, false))
          .visible
      )
        dead.push(d);
    }
    return {
      status: 200,
      resource: { resourceType: 'Parameters', parameter: dead.map((d) => deadEntry(ctx.baseUrl, d)) } as Parameters,
    };
  };
}

function deadEntry(baseUrl: string, d: Delivery): ParametersParameter {
  const part: ParametersParameter[] = [
    { name: 'delivery', valueString: String(d.id) },
    { name: 'subscription', valueString: d.subscriptionId },
    { name: 'attempts', valueInteger: d.attempts },
    { name: 'created', valueInstant: d.createdAt },
  ];
  if (d.eventNumber !== null) part.push({ name: 'event-number', valueString: String(d.eventNumber) });
  if (d.resourceType)
    part.push({
      name: 'focus',
      valueReference: { reference: `${baseUrl}/${d.resourceType}/${d.resourceId}/_history/${d.versionId}` },
    });
  if (d.lastError) part.push({ name: 'error', valueString: d.lastError });
  return { name: 'dead-letter', part };
}

function resendHandler(deps: OperationDeps): FhirHandler {
  return async (ctx, req, { id }) => {
    if (id) await subscriptionOf(ctx, deps, id);
    const body = req.body as Parameters | undefined;
    if (body !== undefined && body.resourceType !== 'Parameters')
      throw badRequest('The body of $resend must be a Parameters resource');
    const values = (name: string) =>
      (body?.parameter ?? [])
        .filter((p) => p.name === name)
        .map((p) => Number(p.valueString ?? p.valueInteger ?? p.valueUnsignedInt ?? p.valuePositiveInt));
    const eventNumbers = values('eventNumber');
    const ids = values('delivery');
    if ([...eventNumbers, ...ids].some((n) => !Number.isSafeInteger(n) || n < 0))
      throw badRequest('eventNumber and delivery must be non-negative integers');
    const count = await resendDead(deps.pool, {
      subscriptionId: id,
      eventNumbers: eventNumbers.length ? eventNumbers : undefined,
      ids: ids.length ? ids : undefined,
    });
    deps.kick();
    return {
      status: 200,
      resource: { resourceType: 'Parameters', parameter: [{ name: 'resent', valueInteger: count }] } as Parameters,
    };
  };
}

function intParam(req: FhirRequest, name: string): number | undefined {
  const raw = req.query[name]?.[0];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`${name} must be a non-negative integer`, name);
  return n;
}
