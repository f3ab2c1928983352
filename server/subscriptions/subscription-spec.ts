import type { Extension, Subscription } from '@medplum/fhirtypes';
import { loadDefinitions } from '../fhir/definitions.ts';
import { unprocessable } from '../fhir/outcomes.ts';
import { parseConditionalQuery } from '../search/conditional-query.ts';
import type { SearchCriteria } from '../core/types.ts';

/**
 * A stored snapshot of a reader (the `subscription_owner` row): by type, `null` for every resource of it or the
 * criteria alternatives; a type that is not listed is not readable at all (so a type added later fails closed).
 */
export type ReadSnapshot = Record<string, SearchCriteria[] | null>;

/** Extensions Tributary reads on a Subscription. */
export const EXT = {
  secret: 'https://tributary.dev/fhir/StructureDefinition/subscription-secret',
  maxAttempts: 'https://tributary.dev/fhir/StructureDefinition/subscription-max-attempts',
  /** Subscriptions R5 Backport: filters on a topic (on `Subscription.criteria`). */
  filterCriteria: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria',
  /** Subscriptions R5 Backport: `empty | id-only | full-resource` (on `Subscription.channel.payload`). */
  payloadContent: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content',
  heartbeatPeriod: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period',
  timeout: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-timeout',
  maxCount: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-max-count',
} as const;

/** Endpoint prefix of the channel (`message`) that runs one of the server's bots. */
export const BOT_ENDPOINT_PREFIX = 'urn:tributary:bot:';

/** Channels a delivery goes through. */
export type ChannelKind = 'rest-hook' | 'websocket' | 'bot';
/** How much of the resource a notification carries. */
export type PayloadContent = 'empty' | 'id-only' | 'full-resource';
/** Interactions a trigger fires on. */
export type Interaction = 'create' | 'update' | 'delete';

/**
 * What makes a subscription fire for one resource type: search criteria the new version must match (exactly with
 * search's semantics), optionally criteria on the previous version (topic `queryCriteria.previous`), and the
 * interactions it reacts to.
 */
export interface Trigger {
  resourceType: string;
  criteria: SearchCriteria;
  interactions: ReadonlySet<Interaction>;
  /** Criteria the previous version must match (topic triggers); with `requireBoth` both tests must pass. */
  previous?: SearchCriteria;
  requireBoth?: boolean;
  /** Result of the missing test on a create (no previous) or delete (no current) (topic triggers). */
  resultForCreate?: 'test-passes' | 'test-fails';
  resultForDelete?: 'test-passes' | 'test-fails';
}

/** A Subscription resource in the form delivery needs it. */
export interface SubscriptionSpec {
  id: string;
  status: Subscription['status'];
  channel: ChannelKind;
  /** rest-hook URL. */
  endpoint?: string;
  /** Bot name for the bot channel. */
  bot?: string;
  /** Extra HTTP headers (`channel.header`). */
  headers: [name: string, value: string][];
  payload: PayloadContent;
  /** Media type of a payload (`channel.payload`). */
  contentType?: string;
  /** HMAC-SHA256 key of the signature header. */
  secret?: string;
  maxAttempts?: number;
  triggers: Trigger[];
  /** Topic canonical URL of a topic-based (backport) subscription. */
  topic?: string;
  heartbeatSeconds?: number;
  timeoutSeconds?: number;
  /** `Subscription.end`: no notifications after it. */
  end?: string;
  /**
   * What the client that wrote the Subscription may read (owner.ts; set by SpecSource.load): its rest-hook
   * notifications carry nothing else. Absent: it was written with unconfined access.
   */
  owner?: ReadSnapshot;
}

const ALL_INTERACTIONS: ReadonlySet<Interaction> = new Set(['create', 'update', 'delete']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Headers the server sets itself and a Subscription may not override. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'connection',
  'transfer-encoding',
  'x-signature',
]);
const MAX_HEADERS = 20;
const MAX_HEADER_LENGTH = 4096;
const PAYLOAD_TYPES = new Set(['application/fhir+json', 'application/json']);
const MAX_ATTEMPTS_LIMIT = 100;

/** Looks up a topic-based subscription's topic (server/subscriptions/topics.ts). */
export type TopicResolver = (url: string) => Trigger[] | undefined;

/**
 * Reads a Subscription into its delivery form, refusing (422, naming the element) what cannot be delivered: unknown
 * resource types or parameters in the criteria, channel types other than rest-hook, websocket and the bot channel,
 * payload media types other than FHIR JSON, malformed or too many headers, unknown topics. Endpoint checks (SSRF)
 * and the criteria's values are checked by the caller (subscription-rules.ts), which has the policy and the engine.
 */
export function readSubscription(
  sub: Subscription,
  resolveTopic: TopicResolver,
  knownBots: ReadonlySet<string>,
): SubscriptionSpec {
  const ch = sub.channel ?? ({} as Subscription['channel']);
  const spec: SubscriptionSpec = {
    id: sub.id as string,
    status: sub.status,
    channel: channelKind(ch.type, ch.endpoint, knownBots),
    headers: readHeaders(ch.header ?? []),
    payload: 'empty',
    triggers: [],
    end: sub.end,
  };
  if (spec.channel === 'rest-hook') {
    if (!ch.endpoint)
      throw unprocessable('A rest-hook subscription needs channel.endpoint', 'Subscription.channel.endpoint');
    spec.endpoint = ch.endpoint;
  }
  if (spec.channel === 'bot') spec.bot = ch.endpoint?.slice(BOT_ENDPOINT_PREFIX.length);
  if (ch.payload) {
    const type = ch.payload.split(';')[0].trim().toLowerCase();
    if (!PAYLOAD_TYPES.has(type))
      throw unprocessable(
        `Payload type ${ch.payload} is not supported: use application/fhir+json`,
        'Subscription.channel.payload',
      );
    spec.contentType = 'application/fhir+json';
  }
  const content = extensionValue(primitiveExtensions(ch, 'payload'), EXT.payloadContent)?.valueCode;
  if (content !== undefined && content !== 'empty' && content !== 'id-only' && content !== 'full-resource') {
    throw unprocessable(
      `Payload content "${content}" is not one of empty, id-only, full-resource`,
      'Subscription.channel.payload',
    );
  }
  spec.payload = (content as PayloadContent | undefined) ?? (ch.payload ? 'full-resource' : 'empty');
  spec.secret = extensionValue(sub.extension, EXT.secret)?.valueString;
  const attempts = extensionValue(sub.extension, EXT.maxAttempts)?.valuePositiveInt;
  if (attempts !== undefined && (attempts < 1 || attempts > MAX_ATTEMPTS_LIMIT)) {
    throw unprocessable(`max attempts must be between 1 and ${MAX_ATTEMPTS_LIMIT}`, 'Subscription.extension');
  }
  spec.maxAttempts = attempts;
  spec.heartbeatSeconds = extensionValue(ch.extension, EXT.heartbeatPeriod)?.valueUnsignedInt;
  spec.timeoutSeconds = extensionValue(ch.extension, EXT.timeout)?.valueUnsignedInt;
  if (isClassicCriteria(sub.criteria)) spec.triggers = [criteriaTrigger(sub.criteria)];
  else spec.triggers = topicTriggers(sub, spec, resolveTopic);
  return spec;
}

function channelKind(
  type: string | undefined,
  endpoint: string | undefined,
  knownBots: ReadonlySet<string>,
): ChannelKind {
  if (type === 'rest-hook' || type === 'websocket') return type;
  if (type === 'message' && endpoint?.startsWith(BOT_ENDPOINT_PREFIX)) {
    const bot = endpoint.slice(BOT_ENDPOINT_PREFIX.length);
    if (!knownBots.has(bot)) throw unprocessable(`There is no bot named "${bot}"`, 'Subscription.channel.endpoint');
    return 'bot';
  }
  throw unprocessable(
    `Channel type "${type}" is not supported: use rest-hook, websocket, or message with endpoint ${BOT_ENDPOINT_PREFIX}<bot>`,
    'Subscription.channel.type',
  );
}

function readHeaders(lines: string[]): [string, string][] {
  if (lines.length > MAX_HEADERS)
    throw unprocessable(`At most ${MAX_HEADERS} channel headers are allowed`, 'Subscription.channel.header');
  return lines.map((line, i) => {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    const value = colon > 0 ? line.slice(colon + 1).trim() : '';
    const where = `Subscription.channel.header[${i}]`;
    if (!HEADER_NAME.test(name) || line.length > MAX_HEADER_LENGTH || /[\r\n\0]/.test(value)) {
      throw unprocessable(`Channel header "${line.slice(0, 80)}" is not of the form "Name: value"`, where);
    }
    if (RESERVED_HEADERS.has(name.toLowerCase()) || name.toLowerCase().startsWith('x-tributary-')) {
      throw unprocessable(`Channel header ${name} is set by the server`, where);
    }
    return [name, value];
  });
}

/** Whether `Subscription.criteria` is a classic `Type?query` (otherwise it names a topic). */
export function isClassicCriteria(criteria: string | undefined): boolean {
  return /^[A-Z][A-Za-z]+(\?|$)/.test(criteria ?? '');
}

/** `Type?query` criteria of a classic R4 subscription. */
export function criteriaTrigger(criteria: string, expression = 'Subscription.criteria'): Trigger {
  const [type, query = ''] = criteria.split(/\?(.*)/s);
  if (!loadDefinitions().resourceTypeSet.has(type))
    throw unprocessable(`Unknown resource type "${type}" in the criteria`, expression);
  return { resourceType: type, criteria: query ? parseQuery(query, expression) : {}, interactions: ALL_INTERACTIONS };
}

function parseQuery(query: string, expression: string): SearchCriteria {
  try {
    return parseConditionalQuery(query);
  } catch {
    throw unprocessable(`The criteria "${query}" are not a search query`, expression);
  }
}

/** Triggers of a topic-based subscription: the topic's, with the subscription's filters ANDed in per type. */
function topicTriggers(sub: Subscription, spec: SubscriptionSpec, resolveTopic: TopicResolver): Trigger[] {
  const url = sub.criteria;
  if (!url) throw unprocessable('Subscription.criteria is required', 'Subscription.criteria');
  const triggers = resolveTopic(url);
  if (!triggers)
    throw unprocessable(
      `"${url}" is neither Type?query criteria nor a known SubscriptionTopic`,
      'Subscription.criteria',
    );
  spec.topic = url;
  const filters = (primitiveExtensions(sub, 'criteria') ?? [])
    .filter((e) => e.url === EXT.filterCriteria)
    .map((e) => e.valueString ?? '');
  const byType = new Map<string, SearchCriteria>();
  for (const f of filters) {
    const t = criteriaTrigger(f, 'Subscription.criteria.extension');
    if (!triggers.some((tr) => tr.resourceType === t.resourceType)) {
      throw unprocessable(
        `The filter "${f}" names ${t.resourceType}, which the topic does not trigger on`,
        'Subscription.criteria.extension',
      );
    }
    byType.set(t.resourceType, { ...byType.get(t.resourceType), ...t.criteria });
  }
  return triggers.map((tr) => ({ ...tr, criteria: { ...tr.criteria, ...byType.get(tr.resourceType) } }));
}

/** Extensions of a primitive element (`_criteria`, `_payload` in JSON), which @medplum/fhirtypes does not type. */
function primitiveExtensions(element: object, name: string): Extension[] | undefined {
  return (element as Record<string, { extension?: Extension[] } | undefined>)[`_${name}`]?.extension;
}

function extensionValue(extensions: Extension[] | undefined, url: string): Extension | undefined {
  return extensions?.find((e) => e.url === url);
}
