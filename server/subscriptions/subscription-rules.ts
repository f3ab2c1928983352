import type { Basic, Resource, Subscription } from '@medplum/fhirtypes';
import { OutcomeError, unprocessable } from '../fhir/outcomes.ts';
import { buildWhere } from '../search/engine.ts';
import { parseSearch } from '../search/parse.ts';
import type { Repository } from '../core/repository.ts';
import type { EndpointPolicy } from './endpoint-policy.ts';
import { isClassicCriteria, readSubscription, type Trigger } from './subscription-spec.ts';
import { isTopic, loadTopics, readTopic } from './topics.ts';

/** Search parameters that shape results; they mean nothing in a subscription's criteria. */
const RESULT_PARAMS = new Set([
  '_sort',
  '_count',
  '_include',
  '_revinclude',
  '_summary',
  '_elements',
  '_total',
  '_contained',
  '_containedType',
  '_cursor',
  '_format',
  '_pretty',
]);

/** What checking a Subscription needs. */
export interface SubscriptionRuleDeps {
  policy: EndpointPolicy;
  knownBots(): ReadonlySet<string>;
  /** The store (criteria are compiled by the search engine, which may look up ValueSets). */
  repo(): Repository;
}

/**
 * The write rule for Subscription resources and backported SubscriptionTopics (runs in Repository's write check, so
 * every door gets it): a subscription must be deliverable (subscription-spec.ts), its endpoint allowed (SSRF
 * policy), its topic known, and its criteria a valid search — compiled by the search engine exactly as a search
 * would be, so a value that search would refuse is refused here (422, naming the element). A `requested`
 * subscription is stored `active`: the server sets it up synchronously.
 */
export function subscriptionRule(deps: SubscriptionRuleDeps): (resource: Resource) => Promise<Resource | undefined> {
  return async (resource) => {
    if (resource.resourceType === 'Basic' && isTopic(resource as Basic)) {
      for (const trigger of readTopic(resource as Basic).triggers)
        await checkCriteria(deps.repo(), trigger, 'Basic.extension');
      return undefined;
    }
    if (resource.resourceType !== 'Subscription') return undefined;
    const sub = resource as Subscription;
    const topics = isClassicCriteria(sub.criteria) ? new Map<string, Trigger[]>() : await loadTopics(deps.repo());
    const spec = readSubscription(sub, (url) => topics.get(url), deps.knownBots());
    if (spec.endpoint) deps.policy.checkUrl(spec.endpoint, 'Subscription.channel.endpoint');
    const where = spec.topic ? 'Subscription.criteria.extension' : 'Subscription.criteria';
    for (const trigger of spec.triggers) await checkCriteria(deps.repo(), trigger, where);
    return sub.status === 'requested' ? ({ ...sub, status: 'active' } as Subscription) : undefined;
  };
}

async function checkCriteria(repo: Repository, trigger: Trigger, where: string): Promise<void> {
  for (const criteria of [trigger.criteria, trigger.previous ?? {}])
    await checkQuery(repo, trigger.resourceType, criteria, where);
}

async function checkQuery(
  repo: Repository,
  resourceType: string,
  criteria: Trigger['criteria'],
  where: string,
): Promise<void> {
  for (const name of Object.keys(criteria)) {
    if (RESULT_PARAMS.has(name.split(':')[0]))
      throw unprocessable(`${name} cannot be used in subscription criteria`, where);
  }
  try {
    const request = parseSearch([resourceType], criteria, 'strict');
    await buildWhere({ repo, baseUrl: '' }, [resourceType], request.criteria);
  } catch (err) {
    if (err instanceof OutcomeError && err.status < 500) throw unprocessable(`Invalid criteria: ${err.message}`, where);
    throw err;
  }
}
