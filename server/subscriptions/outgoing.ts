import type { Resource } from '@medplum/fhirtypes';
import { createHmac } from 'node:crypto';
import type { Delivery } from './deliveries.ts';
import { eventsOf, notificationBundle, type NotificationType } from './notification-bundle.ts';
import type { OutgoingNotification } from './rest-hook.ts';
import type { SubscriptionSpec } from './subscription-spec.ts';

/** What building a notification needs from the store. */
export interface OutgoingContext {
  baseUrl: string;
  maxPayloadBytes: number;
  /** The stored JSON of a version, if it exists. */
  loadVersion(resourceType: string, id: string, versionId: number): Promise<string | undefined>;
  /** Events the subscription has had so far. */
  eventCount(subscriptionId: string): Promise<number>;
}

const TYPE_OF_KIND: Record<string, NotificationType> = {
  event: 'event-notification',
  handshake: 'handshake',
  heartbeat: 'heartbeat',
};

/**
 * The HTTP request of a rest-hook notification. Every request names its subscription, event number, focus version
 * and action in `X-Tributary-*` headers, so receivers can de-duplicate by (subscription, resource, version), and is
 * signed when the subscription has a secret (`X-Signature: sha256=<hex HMAC-SHA256 of the body>`).
 * - Topic-based (backport) subscriptions get a notification Bundle (handshake, heartbeat, event-notification).
 * - Classic R4 subscriptions get the resource version for `full-resource` payloads and an empty body (a ping) for
 *   `empty` and `id-only` ones, and for deletions.
 * A body larger than `maxPayloadBytes` is sent id-only (`X-Tributary-Payload: id-only`).
 */
export async function outgoingNotification(
  spec: SubscriptionSpec,
  delivery: Delivery,
  ctx: OutgoingContext,
): Promise<OutgoingNotification> {
  const headers: Record<string, string> = { 'x-tributary-subscription': `Subscription/${spec.id}` };
  if (delivery.eventNumber !== null) headers['x-tributary-event-number'] = String(delivery.eventNumber);
  if (delivery.resourceType) {
    headers['x-tributary-resource'] = `${delivery.resourceType}/${delivery.resourceId}/_history/${delivery.versionId}`;
    headers['x-tributary-action'] = delivery.action ?? 'update';
  }
  for (const [name, value] of spec.headers) headers[name] = value;
  let body = spec.topic ? await topicBody(spec, delivery, ctx, spec.payload) : await classicBody(spec, delivery, ctx);
  if (body !== undefined && Buffer.byteLength(body) > ctx.maxPayloadBytes) {
    headers['x-tributary-payload'] = 'id-only';
    body = spec.topic ? await topicBody(spec, delivery, ctx, 'id-only') : undefined;
  }
  if (body !== undefined) headers['content-type'] = spec.contentType ?? 'application/fhir+json';
  if (spec.secret)
    headers['x-signature'] = `sha256=${createHmac('sha256', spec.secret)
      .update(body ?? '')
      .digest('hex')}`;
  return { url: spec.endpoint as string, headers, body };
}

async function classicBody(spec: SubscriptionSpec, d: Delivery, ctx: OutgoingContext): Promise<string | undefined> {
  if (spec.payload !== 'full-resource' || d.action === 'delete' || !d.resourceType) return undefined;
  return ctx.loadVersion(d.resourceType, d.resourceId as string, d.versionId as number);
}

async function topicBody(
  spec: SubscriptionSpec,
  d: Delivery,
  ctx: OutgoingContext,
  content: SubscriptionSpec['payload'],
): Promise<string> {
  const events = eventsOf([d]);
  if (content === 'full-resource') {
    for (const e of events) {
      const stored = e.action === 'delete' ? undefined : await ctx.loadVersion(e.resourceType, e.id, e.versionId);
      if (stored) e.resource = JSON.parse(stored) as Resource;
    }
  }
  const eventsSinceStart = d.eventNumber ?? (await ctx.eventCount(spec.id));
  return JSON.stringify(
    notificationBundle({ baseUrl: ctx.baseUrl, spec, type: TYPE_OF_KIND[d.kind], eventsSinceStart, events, content }),
  );
}
