import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { SearchCriteria } from '../rest/types.ts';
import { buildWhere } from '../search/engine.ts';
import { parseSearch } from '../search/parse.ts';
import { SqlParams } from '../search/sql.ts';
import type { Repository } from '../store/repository.ts';
import type { IndexRows } from '../store/indexer.ts';
import { compileEquality, type EqualityTest } from './equality.ts';
import type { Interaction, Trigger } from './subscription-spec.ts';

/** Triggers judged by one SQL statement. */
const TRIGGERS_PER_QUERY = 50;

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
  /** Index rows of `content` (of `previous` for a deletion), when the reader computed them. */
  rows?: IndexRows;
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
 * Decides which (event, trigger) pairs match. Criteria made of plain equalities are decided on the version's own
 * index rows (equality.ts: exactly what the search engine's SQL would decide, without a query). Other criteria are
 * judged by the search engine itself (one SQL statement per batch for up to 50 triggers, each over its events' ids), so they mean
 * exactly what a search with them returns — chains, `_has`, modifiers and all. When the resource has changed again
 * since (the event's version is no longer current), or for the previous version of a deletion or a topic's
 * `previous` test, the version's content is judged in memory with @medplum/core's search matcher instead.
 */
export class TriggerMatcher {
  private readonly equality = new WeakMap<Trigger, EqualityTest | null>();

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
      if (event.action === 'delete') {
        const current = trigger.resultForDelete ? trigger.resultForDelete === 'test-passes' : this.inMemory(trigger, trigger.criteria, event.previous, event.rows);
        results[i] = this.decide(trigger, event, current);
        continue;
      }
      const test = this.equalityOf(trigger);
      if (Object.keys(trigger.criteria).length === 0 || (test && event.rows)) {
        results[i] = this.decide(trigger, event, !test || !event.rows || test(event.id, event.rows));
        continue;
      }
      byTrigger.set(trigger, [...(byTrigger.get(trigger) ?? []), i]);
    }
    const negatives: number[] = [];
    const groups = [...byTrigger];
    for (let g = 0; g < groups.length; g += TRIGGERS_PER_QUERY) {
      const chunk = groups.slice(g, g + TRIGGERS_PER_QUERY);
      const matched = await this.matchInDatabase(chunk.map(([trigger, indexes]) => ({ trigger, events: indexes.map((i) => pairs[i].event) })));
      chunk.forEach(([trigger, indexes], k) => {
        for (const i of indexes) {
          const { event } = pairs[i];
          if (matched.has(`${k}/${event.id}/${event.versionId}`)) results[i] = this.decide(trigger, event, true);
          else negatives.push(i);
        }
      });
    }
    // A version the database did not match may simply no longer be current: judge those in memory.
    const stale = await this.staleVersions(negatives.map((i) => pairs[i].event));
    for (const i of negatives) {
      const { event, trigger } = pairs[i];
      const current = stale.has(`${event.resourceType}/${event.id}/${event.versionId}`) ? this.inMemory(trigger, trigger.criteria, event.content, undefined) : false;
      results[i] = this.decide(trigger, event, current);
    }
    return results;
  }

  private equalityOf(trigger: Trigger): EqualityTest | undefined {
    if (!this.equality.has(trigger)) this.equality.set(trigger, compileEquality(trigger.resourceType, trigger.criteria, this.baseUrl()) ?? null);
    return this.equality.get(trigger) ?? undefined;
  }

  /** Judges a version without the database: on its index rows when the criteria allow, else with @medplum/core. */
  private inMemory(trigger: Trigger, criteria: SearchCriteria, resource: Resource | undefined, rows: IndexRows | undefined): boolean {
    const test = criteria === trigger.criteria ? this.equalityOf(trigger) : undefined;
    if (resource && test && rows) return test(resource.id as string, rows);
    return matchesInMemory(resource, trigger.resourceType, criteria);
  }

  /** Applies a topic's `previous` test (when it has one) to the result of the current test. */
  private decide(trigger: Trigger, event: WriteEvent, current: boolean): boolean {
    if (!trigger.previous) return current;
    const previous =
      event.action === 'create'
        ? (trigger.resultForCreate ?? 'test-passes') === 'test-passes'
        : this.inMemory(trigger, trigger.previous, event.previous, undefined);
    return trigger.requireBoth ? current && previous : current || previous;
  }

  /**
   * `k/id/versionId` of the events whose version is current and matches the criteria of trigger `k`, for several
   * triggers in one statement (a UNION ALL of their search clauses, each over its own events).
   */
  private async matchInDatabase(groups: { trigger: Trigger; events: WriteEvent[] }[]): Promise<Set<string>> {
    const sql = new SqlParams();
    const branches: string[] = [];
    for (const [k, { trigger, events }] of groups.entries()) {
      const request = parseSearch([trigger.resourceType], trigger.criteria, 'strict');
      const { where } = await buildWhere({ repo: this.repo, baseUrl: this.baseUrl() }, [trigger.resourceType], request.criteria, {}, 'r', sql);
      const ids = sql.add(events.map((e) => e.id));
      const versions = sql.add(events.map((e) => e.versionId));
      branches.push(
        `SELECT ${k} AS k, r.id, r.version_id FROM resource r
         WHERE ${where} AND (r.id, r.version_id) IN (SELECT * FROM unnest(${ids}::text[], ${versions}::bigint[]))`,
      );
    }
    const { rows } = await this.repo.query<{ k: number; id: string; version_id: string }>(branches.join('\nUNION ALL\n'), sql.values);
    return new Set(rows.map((r) => `${r.k}/${r.id}/${r.version_id}`));
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
