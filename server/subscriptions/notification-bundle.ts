import type { Bundle, BundleEntry, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import type { Delivery } from './deliveries.ts';
import type { PayloadContent, SubscriptionSpec } from './subscription-spec.ts';

/** Profile of the R4 form of SubscriptionStatus (a Parameters resource), Subscriptions R5 Backport IG. */
const STATUS_PROFILE =
  'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4';
const NOTIFICATION_PROFILE =
  'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4';

/** The kind of a notification Bundle (backport `notification-type`). */
export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

/** One event in a notification: its number, when it happened, and the focus version (with content when it is sent). */
export interface NotificationEvent {
  eventNumber: number;
  timestamp: string;
  resourceType: string;
  id: string;
  versionId: number;
  action: string;
  /** The focus version's content (full-resource payloads). */
  resource?: Resource;
}

/** The events of delivery rows, without content. */
export function eventsOf(deliveries: Delivery[]): NotificationEvent[] {
  return deliveries
    .filter((d) => d.kind === 'event' && d.resourceType && d.resourceId)
    .map((d) => ({
      eventNumber: d.eventNumber as number,
      timestamp: d.createdAt,
      resourceType: d.resourceType as string,
      id: d.resourceId as string,
      versionId: d.versionId as number,
      action: d.action ?? 'update',
    }));
}

/**
 * A notification Bundle as the Subscriptions R5 Backport IG defines it for R4: type `history`, first entry the
 * subscription status (a Parameters resource), then one entry per event focus — with the resource for
 * `full-resource`, its URL only for `id-only`, none for `empty`. Used for rest-hook deliveries of topic-based
 * subscriptions, websocket messages, `$events` and `$status`.
 */
export function notificationBundle(options: {
  baseUrl: string;
  spec: Pick<SubscriptionSpec, 'id' | 'status' | 'topic'>;
  type: NotificationType;
  eventsSinceStart: number;
  events?: NotificationEvent[];
  content?: PayloadContent;
  error?: string;
}): Bundle {
  const { baseUrl, spec, type } = options;
  const events = options.events ?? [];
  const content = options.content ?? 'id-only';
  const subscriptionUrl = `${baseUrl}/Subscription/${spec.id}`;
  const parameter: ParametersParameter[] = [
    { name: 'subscription', valueReference: { reference: subscriptionUrl } },
    ...(spec.topic ? [{ name: 'topic', valueCanonical: spec.topic }] : []),
    { name: 'status', valueCode: spec.status },
    { name: 'type', valueCode: type },
    { name: 'events-since-subscription-start', valueString: String(options.eventsSinceStart) },
  ];
  for (const e of events) {
    parameter.push({
      name: 'notification-event',
      part: [
        { name: 'event-number', valueString: String(e.eventNumber) },
        { name: 'timestamp', valueInstant: e.timestamp },
        ...(content !== 'empty' ? [{ name: 'focus', valueReference: { reference: focusUrl(baseUrl, e) } }] : []),
      ],
    });
  }
  if (options.error) parameter.push({ name: 'error', valueCodeableConcept: { text: options.error } });
  const status: Parameters = {
    resourceType: 'Parameters',
    id: randomUUID(),
    meta: { profile: [STATUS_PROFILE] },
    parameter,
  };
  const entry: BundleEntry[] = [
    {
      fullUrl: `urn:uuid:${status.id}`,
      resource: status,
      request: { method: 'GET', url: `${subscriptionUrl}/$status` },
      response: { status: '200' },
    },
  ];
  if (content !== 'empty') for (const e of events) entry.push(focusEntry(baseUrl, e, content));
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { profile: [NOTIFICATION_PROFILE] },
    type: 'history',
    timestamp: new Date().toISOString(),
    entry,
  };
}

function focusUrl(baseUrl: string, e: NotificationEvent): string {
  return `${baseUrl}/${e.resourceType}/${e.id}/_history/${e.versionId}`;
}

/** A history entry for the focus: request method from the action, the resource only for full-resource payloads. */
function focusEntry(baseUrl: string, e: NotificationEvent, content: PayloadContent): BundleEntry {
  const method = e.action === 'create' ? 'POST' : e.action === 'delete' ? 'DELETE' : 'PUT';
  return {
    fullUrl: `${baseUrl}/${e.resourceType}/${e.id}`,
    ...(content === 'full-resource' && e.resource ? { resource: e.resource } : {}),
    request: { method, url: method === 'POST' ? e.resourceType : `${e.resourceType}/${e.id}` },
    response: { status: e.action === 'create' ? '201' : '200', etag: `W/"${e.versionId}"` },
  };
}
