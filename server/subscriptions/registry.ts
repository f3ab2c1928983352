import { INDEX_TABLES, type IndexRows } from '../store/indexer.ts';
import { fit, parseReferenceTarget } from '../store/index-values.ts';
import { searchParam } from '../fhir/search-params/registry.ts';
import type { SubscriptionSpec, Trigger } from './subscription-spec.ts';

/** One trigger of one subscription. */
export interface Candidate {
  spec: SubscriptionSpec;
  trigger: Trigger;
  /** Index codes a matching version must have rows for (plain criteria cannot match a resource without values). */
  requires: string[];
}

/** Per resource type: triggers findable by an equality value, and those every write of the type must be tested on. */
interface TypeIndex {
  anchored: Map<string, Candidate[]>;
  unanchored: Candidate[];
  /** How many triggers use each parameter code in their criteria (the index values matching needs). */
  codes: Map<string, number>;
}

/**
 * The live subscriptions, indexed so that a write is tested only against triggers that could match it: each trigger
 * is filed under its resource type and, when its criteria have a plain token, reference or `_id` equality
 * (`code=…`, `subject=Patient/1`), under those values ("anchors"). A write then looks up its own index values, so
 * 10,000 subscriptions on `Observation?subject=…` cost a few hash lookups per Observation, not 10,000 tests.
 * Anchors only narrow the candidates; the search engine decides (matcher.ts).
 */
export class SubscriptionRegistry {
  private readonly specs = new Map<string, SubscriptionSpec>();
  private readonly types = new Map<string, TypeIndex>();
  /** Ids of the subscriptions filed in `types` (the live ones when they were set). */
  private readonly indexed = new Set<string>();

  /** Adds or replaces a subscription (any status; only live ones are indexed). */
  set(spec: SubscriptionSpec): void {
    this.remove(spec.id);
    this.specs.set(spec.id, spec);
    if (!isLive(spec)) return;
    this.indexed.add(spec.id);
    for (const trigger of spec.triggers) {
      const index = this.typeIndex(trigger.resourceType);
      const candidate = { spec, trigger, requires: requiredCodes(trigger) };
      for (const code of criteriaCodes(trigger)) index.codes.set(code, (index.codes.get(code) ?? 0) + 1);
      const anchors = anchorKeys(trigger);
      if (!anchors) index.unanchored.push(candidate);
      else for (const key of anchors) index.anchored.set(key, [...(index.anchored.get(key) ?? []), candidate]);
    }
  }

  private typeIndex(resourceType: string): TypeIndex {
    let index = this.types.get(resourceType);
    if (!index) this.types.set(resourceType, (index = { anchored: new Map(), unanchored: [], codes: new Map() }));
    return index;
  }

  /** Forgets a subscription. */
  remove(id: string): void {
    const old = this.specs.get(id);
    if (!old) return;
    this.specs.delete(id);
    if (!this.indexed.delete(id)) return;
    for (const trigger of old.triggers) {
      const index = this.types.get(trigger.resourceType);
      if (!index) continue;
      for (const code of criteriaCodes(trigger)) {
        const n = (index.codes.get(code) ?? 0) - 1;
        if (n > 0) index.codes.set(code, n);
        else index.codes.delete(code);
      }
      const anchors = anchorKeys(trigger);
      if (!anchors) index.unanchored = index.unanchored.filter((c) => c.spec.id !== id);
      for (const key of anchors ?? []) {
        const kept = (index.anchored.get(key) ?? []).filter((c) => c.spec.id !== id);
        if (kept.length) index.anchored.set(key, kept);
        else index.anchored.delete(key);
      }
      if (index.unanchored.length === 0 && index.anchored.size === 0) this.types.delete(trigger.resourceType);
    }
  }

  /** Removes every subscription. */
  clear(): void {
    this.specs.clear();
    this.indexed.clear();
    this.types.clear();
  }

  /** The subscription with this id, whatever its status. */
  get(id: string): SubscriptionSpec | undefined {
    return this.specs.get(id);
  }

  /** Every subscription known (any status). */
  all(): IterableIterator<SubscriptionSpec> {
    return this.specs.values();
  }

  /** Number of subscriptions known (any status). */
  get size(): number {
    return this.specs.size;
  }

  /** The types some live trigger is on. */
  watchedTypes(): string[] {
    return [...this.types.keys()];
  }

  /** Whether any live trigger is on this type (if not, its writes need no further look). */
  watches(resourceType: string): boolean {
    return this.types.has(resourceType);
  }

  /** The parameter codes whose index values finding and judging this type's candidates needs. */
  codesFor(resourceType: string): ReadonlySet<string> {
    return new Set(this.types.get(resourceType)?.codes.keys());
  }

  /**
   * The triggers a version of `resourceType/id` with these index rows could match: the anchored ones its values
   * find, and the unanchored ones whose plain criteria all have values in it.
   */
  candidates(resourceType: string, id: string, rows: IndexRows): Candidate[] {
    const index = this.types.get(resourceType);
    if (!index) return [];
    const codes = new Set<string>();
    for (const table of INDEX_TABLES) for (const row of rows[table]) codes.add(row[0]);
    const out = index.unanchored.filter((c) => c.requires.every((code) => codes.has(code)));
    if (index.anchored.size === 0) return out;
    const seen = new Set<Candidate>(out);
    const add = (key: string) => {
      for (const c of index.anchored.get(key) ?? []) {
        if (seen.has(c)) continue;
        seen.add(c);
        out.push(c);
      }
    };
    add(`_id|${id.toLowerCase()}`);
    for (const [code, , value] of rows.token) if (value) add(`${code}|${value.toLowerCase()}`);
    for (const [code, , targetId] of rows.reference) if (targetId) add(`${code}|${targetId.toLowerCase()}`);
    return out;
  }
}

/** Live subscriptions get notifications: active, requested (being set up) and error (still retried), not ended. */
function isLive(spec: SubscriptionSpec): boolean {
  if (spec.status === 'off') return false;
  return !spec.end || Date.parse(spec.end) > Date.now();
}

/** The parameter codes a trigger's criteria name (the first hop of a chain). */
function criteriaCodes(trigger: Trigger): string[] {
  return Object.keys(trigger.criteria)
    .filter((name) => !name.startsWith('_'))
    .map((name) => name.split('.')[0].split(':')[0]);
}

/**
 * The index codes a version must have rows for to match the trigger's plain criteria (`value-quantity=gt5` needs a
 * value-quantity row; a chain needs its reference). Modifiers that match absence or derived rows (`:missing`,
 * `:not`, `:text`, …), `_has` and the `_` parameters answered elsewhere require nothing.
 */
function requiredCodes(trigger: Trigger): string[] {
  const codes: string[] = [];
  for (const name of Object.keys(trigger.criteria)) {
    if (name.startsWith('_')) continue;
    const first = name.split('.')[0];
    if (first.includes(':') && !name.includes('.')) continue;
    codes.push(first.split(':')[0]);
  }
  return codes;
}

/**
 * The anchor keys of a trigger: the values of its most selective plain equality criterion on a token or reference
 * parameter (or `_id`), one key per ORed value; undefined when it has none (then every write of the type is tested).
 */
function anchorKeys(trigger: Trigger): string[] | undefined {
  let best: string[] | undefined;
  for (const [name, values] of Object.entries(trigger.criteria)) {
    if (name.includes(':') || name.includes('.')) continue;
    const type = name === '_id' ? 'id' : searchParam(trigger.resourceType, name)?.type;
    if (type !== 'token' && type !== 'reference' && type !== 'id') continue;
    for (const value of values) {
      const keys: string[] = [];
      for (const alternative of value.split(',')) {
        const key = anchorValue(type, alternative);
        if (key === undefined) {
          keys.length = 0;
          break;
        }
        keys.push(`${name}|${key}`);
      }
      if (keys.length && (!best || keys.length < best.length)) best = keys;
    }
  }
  return best;
}

/** The value an index row of this type would hold for a criterion value, lower-cased; undefined if not anchorable. */
function anchorValue(type: 'token' | 'reference' | 'id', value: string): string | undefined {
  if (type === 'id') return value.toLowerCase() || undefined;
  if (type === 'token') {
    const code = value.slice(value.indexOf('|') + 1).replace(/\\(.)/g, '$1');
    return code ? fit(code).toLowerCase() : undefined;
  }
  // Absolute and canonical references may be indexed by URL only: leave them to the engine.
  if (value.includes(':')) return undefined;
  const [, targetId] = parseReferenceTarget(value);
  if (targetId) return targetId.toLowerCase();
  return /^[A-Za-z0-9\-.]{1,64}$/.test(value) ? value.toLowerCase() : undefined;
}
