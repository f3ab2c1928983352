import type { Basic, Extension } from '@medplum/fhirtypes';
import { unprocessable } from '../fhir/outcomes.ts';
import { parseConditionalQuery } from '../search/conditional-query.ts';
import type { SearchCriteria } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import type { Interaction, Trigger } from './subscription-spec.ts';

/**
 * SubscriptionTopics in R4 (Subscriptions R5 Backport IG): R4 has no SubscriptionTopic resource, so a topic is a
 * Basic resource with code `SubscriptionTopic` and R5 cross-version extensions for its elements. Tributary reads the
 * topic's canonical URL, its resource triggers (resource type, supported interactions, `queryCriteria` current and
 * previous with their results for create and delete, `requireBoth`) and turns each into a Trigger that the
 * subscription machinery matches like classic criteria. `fhirPathCriteria` and notification shapes are not used.
 */
const XVER = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.';
const ARTIFACT_URL = 'http://hl7.org/fhir/StructureDefinition/artifact-url';
const FHIR_TYPES = 'http://hl7.org/fhir/fhir-types';
const INTERACTIONS = new Set<Interaction>(['create', 'update', 'delete']);

/** A topic as the server uses it. */
export interface Topic {
  url: string;
  triggers: Trigger[];
}

/** Whether a Basic resource is a backported SubscriptionTopic. */
export function isTopic(basic: Basic): boolean {
  return !!basic.code?.coding?.some((c) => c.code === 'SubscriptionTopic' && (!c.system || c.system === FHIR_TYPES));
}

/** Reads a backported topic; 422 (naming the element) when it has no URL or an unusable trigger. */
export function readTopic(basic: Basic): Topic {
  const ext = basic.extension ?? [];
  const url = ext.find((e) => e.url === ARTIFACT_URL || e.url === `${XVER}url`)?.valueUri;
  if (!url)
    throw unprocessable('A SubscriptionTopic needs its canonical URL (artifact-url extension)', 'Basic.extension');
  const triggers = ext
    .filter((e) => e.url === `${XVER}resourceTrigger`)
    .map((e, i) => readTrigger(e, `Basic.extension[${i}]`));
  if (triggers.length === 0)
    throw unprocessable('A SubscriptionTopic needs at least one resourceTrigger', 'Basic.extension');
  return { url, triggers };
}

function readTrigger(e: Extension, where: string): Trigger {
  const parts = e.extension ?? [];
  const resource = parts.find((p) => p.url === 'resource')?.valueUri ?? '';
  const resourceType = resource.replace(/^http:\/\/hl7\.org\/fhir\/StructureDefinition\//, '');
  if (!/^[A-Z][A-Za-z]+$/.test(resourceType))
    throw unprocessable(`resourceTrigger.resource "${resource}" is not a resource type`, where);
  const named = parts.filter((p) => p.url === 'supportedInteraction').map((p) => p.valueCode as Interaction);
  if (named.some((i) => !INTERACTIONS.has(i)))
    throw unprocessable('supportedInteraction must be create, update or delete', where);
  const query = parts.find((p) => p.url === 'queryCriteria')?.extension ?? [];
  const value = (name: string) => query.find((q) => q.url === name);
  const criteria = (name: string) => {
    const text = value(name)?.valueString;
    return text ? readQuery(text, where) : undefined;
  };
  return {
    resourceType,
    interactions: new Set(named.length ? named : INTERACTIONS),
    criteria: criteria('current') ?? {},
    previous: criteria('previous'),
    requireBoth: value('requireBoth')?.valueBoolean,
    resultForCreate: value('resultForCreate')?.valueCode as Trigger['resultForCreate'],
    resultForDelete: value('resultForDelete')?.valueCode as Trigger['resultForDelete'],
  };
}

function readQuery(text: string, where: string): SearchCriteria {
  try {
    return parseConditionalQuery(text);
  } catch {
    throw unprocessable(`queryCriteria "${text}" is not a search query`, where);
  }
}

/** The topics stored now, by canonical URL (unreadable ones are skipped). */
export async function loadTopics(repo: Repository): Promise<Map<string, Trigger[]>> {
  const { rows } = await repo.query<{ content: string }>(
    `SELECT content FROM resource WHERE resource_type = 'Basic' AND NOT deleted AND content LIKE '%SubscriptionTopic%'`,
    [],
  );
  const topics = new Map<string, Trigger[]>();
  for (const row of rows) {
    const basic = JSON.parse(row.content) as Basic;
    if (!isTopic(basic)) continue;
    try {
      const topic = readTopic(basic);
      topics.set(topic.url, topic.triggers);
    } catch {
      // An unreadable topic is refused when written; one stored before that rule simply offers no triggers.
    }
  }
  return topics;
}
