import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { SearchCriteria } from '../rest/types.ts';
import { buildWhere } from '../search/engine.ts';
import { parseSearch } from '../search/parse.ts';
import type { Repository } from '../store/repository.ts';
import type { Interaction, Trigger } from './subscription-spec.ts';

/** A committed write as the outbox recorded it, with the versions matching needs. */
export interface WriteEvent {
  seq: number;
  resourceType: string;
  id: string;
  versionId: number;
  action: 'create' | 'update' | 'patch' | 'delete';
  /** The written version (absent for a deletion). */
  content?: Resource;
  /** The version before it, loaded when a trigger needs it (deletions, topic `previous` criteria). */
  previous?: Resource;
}

/** The interaction a write counts as for triggers (a PATCH is an update). */
export function interactionOf(event: WriteEvent): Interaction {
  return event.action === 'patch' ? 'update' : event.action;
}

/** Whether a trigger needs the version before the event's. */
export function needsPrevious(trigger: Trigger, event: WriteEvent): boolean {
  if (event.action === 'delete') return trigger.resultForDelete === undefined || trigger.previous !== undefined;
  return trigger.previous !== undefined && event.action !== 'create';
}

/**
 * Decides which (event, trigger) pairs match. The written version is judged by the search engine itself (one SQL
 * query per trigger and batch, over the events' ids), so criteria mean exactly what a search with them returns —
 * chains, `_has`, modifiers and all. When the resource has changed again since (the event's version is no longer
 * current), or for the previous version of a deletion or a topic's `previous` test, the version's content is judged
 * in memory with @medplum/core's search matcher instead.
 */
export class TriggerMatcher {
  constructor(
    private readonly repo: Repository,
    private readonly baseUrl: () => string,
  ) {}

  /** For each pair, whether the event fires the trigger. */
  async match(pairs: { event: WriteEvent; trigger: Trigger }[]): Promise<boolean[]> {
    const results = new Array<boolean>(pairs.length).fill(false);
    const byTrigger = new Map<Trigger, number[]>();
    for (let i = 0; i < pairs.length; i++) {
      const { event, trigger } = pairs[i];
      if (!trigger.interactions.has(interactionOf(event))) continue;
      if (event.action === 'delete' || Object.keys(trigger.criteria).length === 0) {
        results[i] = this.decide(trigger, event, currentTest(trigger, event));
        continue;
      }
      byTrigger.set(trigger, [...(byTrigger.get(trigger) ?? []), i]);
    }
    const negatives: number[] = [];
    for (const [trigger, indexes] of byTrigger) {
      const matched = await this.matchInDatabase(trigger, indexes.map((i) => pairs[i].event));
      for (const i of indexes) {
        const { event } = pairs[i];
        if (matched.has(`${event.id}/${event.versionId}`)) results[i] = this.decide(trigger, event, true);
        else negatives.push(i);
      }
    }
    // A version the database did not match may simply no longer be current: judge those in memory.
    const stale = await this.staleVersions(negatives.map((i) => pairs[i].event));
    for (const i of negatives) {
      const { event, trigger } = pairs[i];
      const current = stale.has(`${event.resourceType}/${event.id}/${event.versionId}`) ? matchesInMemory(event.content, trigger.resourceType, trigger.criteria) : false;
      results[i] = this.decide(trigger, event, current);
    }
    return results;
  }

  /** Applies a topic's `previous` test (when it has one) to the result of the current test. */
  private decide(trigger: Trigger, event: WriteEvent, current: boolean): boolean {
    if (!trigger.previous) return current;
    const previous =
      event.action === 'create'
        ? (trigger.resultForCreate ?? 'test-passes') === 'test-passes'
        : matchesInMemory(event.previous, trigger.resourceType, trigger.previous);
    return trigger.requireBoth ? current && previous : current || previous;
  }

  /** `id/versionId` of the events whose version is current and matches the trigger's criteria in the database. */
  private async matchInDatabase(trigger: Trigger, events: WriteEvent[]): Promise<Set<string>> {
    const request = parseSearch([trigger.resourceType], trigger.criteria, 'strict');
    const { ctx, where } = await buildWhere({ repo: this.repo, baseUrl: this.baseUrl() }, [trigger.resourceType], request.criteria);
    const ids = ctx.sql.add(events.map((e) => e.id));
    const versions = ctx.sql.add(events.map((e) => e.versionId));
    const { rows } = await this.repo.query<{ id: string; version_id: string }>(
      `SELECT r.id, r.version_id FROM resource r
       WHERE ${where} AND (r.id, r.version_id) IN (SELECT * FROM unnest(${ids}::text[], ${versions}::bigint[]))`,
      ctx.sql.values,
    );
    return new Set(rows.map((r) => `${r.id}/${r.version_id}`));
  }

  /** Which of these events' versions are no longer the current one (checked after matching: versions only grow). */
  private async staleVersions(events: WriteEvent[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    const { rows } = await this.repo.query<{ resource_type: string; id: string; version_id: string }>(
      `SELECT e.resource_type, e.id, e.version_id FROM unnest($1::text[], $2::text[], $3::bigint[]) AS e(resource_type, id, version_id)
       JOIN resource r ON r.resource_type = e.resource_type AND r.id = e.id
       WHERE r.version_id <> e.version_id`,
      [events.map((e) => e.resourceType), events.map((e) => e.id), events.map((e) => e.versionId)],
    );
    return new Set(rows.map((r) => `${r.resource_type}/${r.id}/${r.version_id}`));
  }
}

/** The current test of a deletion (or of empty criteria): the topic's stated result, or the last live version. */
function currentTest(trigger: Trigger, event: WriteEvent): boolean {
  if (event.action !== 'delete') return true;
  if (trigger.resultForDelete) return trigger.resultForDelete === 'test-passes';
  return matchesInMemory(event.previous, trigger.resourceType, trigger.criteria);
}

/** @medplum/core's in-memory search matching of one resource version. */
function matchesInMemory(resource: Resource | undefined, resourceType: string, criteria: SearchCriteria): boolean {
  if (!resource) return false;
  const query = new URLSearchParams();
  for (const [k, values] of Object.entries(criteria)) for (const v of values) query.append(k, v);
  try {
    return matchesSearchRequest(resource, parseSearchRequest(`${resourceType}?${query}`));
  } catch {
    return false;
  }
}
