import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { SearchCriteria } from '../core/types.ts';
import { buildWhere } from '../search/engine.ts';
import { parseSearch } from '../search/parse.ts';
import { SqlParams } from '../search/sql.ts';
import type { Repository } from '../core/repository.ts';
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
        const current = trigger.resultForDelete
          ? trigger.resultForDelete === 'test-passes'
          : this.inMemory(trigger, trigger.criteria, event.previous, event.rows);
        results[i] = this.decide(trigger, event, current);
        continue;
      }
      const test = this.equalityOf(trigger);
      if (Object.keys(trigger.criteria).length === 0 || (test && event.rows)) {
        results[i] = this.decide(trigger, event, !test || !event.rows || test(event.id, event.rows));
        continue;
      }
      const list = byTrigger.get(trigger);
      if (list) list.push(i);
      else byTrigger.set(trigger, [i]);
    }
    const groups = [...byTrigger];
    for (let g = 0; g < groups.length; g += TRIGGERS_PER_QUERY) {
      const chunk = groups.slice(g, g + TRIGGERS_PER_QUERY);
      const judged = await this.matchInDatabase(
        chunk.map(([trigger, indexes]) => ({ trigger, events: indexes.map((i) => pairs[i].event) })),
      );
      chunk.forEach(([trigger, indexes], k) => {
        for (const i of indexes) {
          const { event } = pairs[i];
          const verdict = judged.get(`${k}/${event.id}/${event.versionId}`);
          // A version that is no longer current (the resource changed again since) is judged in memory.
          const current = verdict?.current
            ? verdict.matched
            : this.inMemory(trigger, trigger.criteria, event.content, undefined);
          results[i] = this.decide(trigger, event, current);
        }
      });
    }
    return results;
  }

  private equalityOf(trigger: Trigger): EqualityTest | undefined {
    if (!this.equality.has(trigger))
      this.equality.set(trigger, compileEquality(trigger.resourceType, trigger.criteria, this.baseUrl()) ?? null);
    return this.equality.get(trigger) ?? undefined;
  }

  /** Judges a version without the database: on its index rows when the criteria allow, else with @medplum/core. */
  private inMemory(
    trigger: Trigger,
    criteria: SearchCriteria,
    resource: Resource | undefined,
    rows: IndexRows | undefined,
  ): boolean {
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
   * For several triggers in one statement (a UNION ALL of their search clauses, each over its own events): whether
   * each event's version is still the current one and, if so, whether it matches — both from one snapshot.
   */
  private async matchInDatabase(
    groups: { trigger: Trigger; events: WriteEvent[] }[],
  ): Promise<Map<string, { current: boolean; matched: boolean }>> {
    const sql = new SqlParams();
    const branches: string[] = [];
    for (const [k, { trigger, events }] of groups.entries()) {
      const request = parseSearch([trigger.resourceType], trigger.criteria, 'strict');
      const { where } = await buildWhere(
        { repo: this.repo, baseUrl: this.baseUrl() },
        [trigger.resourceType],
        request.criteria,
        {},
        'r',
        sql,
      );
      const type = sql.add(trigger.resourceType);
      const ids = sql.add(events.map((e) => e.id));
      const versions = sql.add(events.map((e) => e.versionId));
      branches.push(
        `SELECT ${k} AS k, e.id, e.v, (r.version_id = e.v) AS current, (${where}) AS matched
         FROM unnest(${ids}::text[], ${versions}::bigint[]) AS e(id, v)
         JOIN resource r ON r.resource_type = ${type} AND r.id = e.id`,
      );
    }
    const { rows } = await this.repo.query<{ k: number; id: string; v: string; current: boolean; matched: boolean }>(
      branches.join('\nUNION ALL\n'),
      sql.values,
    );
    return new Map(rows.map((r) => [`${r.k}/${r.id}/${r.v}`, { current: r.current, matched: r.current && r.matched }]));
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
