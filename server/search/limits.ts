import { tooCostly } from '../fhir/outcomes.ts';
import { searchConfig } from './config.ts';
import { chainTargets, checkCriterion, UnknownParameter } from './criteria.ts';
import { splitUnescaped } from './escape.ts';
import type { Criterion } from './model.ts';

/**
 * The limits of one search (server/search/config.ts), checked before any SQL is built: each answers 400 with an
 * OperationOutcome of code `too-costly` that names the limit and its setting. Without them a 94-character chain
 * expanded to thousands of subqueries and one backend to 17 GB.
 */

/** Parameters whose values are not ORed search values (their own rules apply). */
const NOT_CRITERIA = new Set([
  '_count',
  '_sort',
  '_total',
  '_summary',
  '_elements',
  '_include',
  '_revinclude',
  '_contained',
  '_containedType',
  '_cursor',
  '_format',
  '_pretty',
  '_type',
]);

/**
 * Checks the size of a query as a whole: its length, its number of parameters, the values of each parameter. The
 * `_cursor` of a paging link is the server's own (its keyset values) and does not count towards the length, so the
 * next page of a query within the limit is within it too.
 */
export function checkQueryLimits(query: Record<string, string[]>): void {
  const limits = searchConfig();
  let length = 0;
  let parameters = 0;
  for (const [name, values] of Object.entries(query)) {
    for (const value of values) {
      if (name !== '_cursor') length += name.length + value.length + 2;
      if (value !== '') parameters++;
    }
  }
  if (limits.maxQueryLength && length > limits.maxQueryLength) {
    throw tooCostly(
      `The search query is ${length} characters long; at most ${limits.maxQueryLength} are accepted (SEARCH_MAX_QUERY_LENGTH)`,
    );
  }
  if (limits.maxParameters && parameters > limits.maxParameters) {
    throw tooCostly(
      `The search has ${parameters} parameters; at most ${limits.maxParameters} are accepted (SEARCH_MAX_PARAMETERS)`,
    );
  }
  if (!limits.maxValues) return;
  for (const [name, values] of Object.entries(query)) {
    if (NOT_CRITERIA.has(name.split(':')[0])) continue;
    const count = values.reduce((n, v) => n + (v === '' ? 0 : splitUnescaped(v, ',').length), 0);
    if (count > limits.maxValues) {
      throw tooCostly(
        `"${name}" has ${count} values; at most ${limits.maxValues} per parameter are accepted, ORed and repeated together (SEARCH_MAX_VALUES)`,
        name,
      );
    }
  }
}

/** Checks the number of `_sort` keys. */
export function checkSortLimit(keys: number): void {
  const max = searchConfig().maxSortKeys;
  if (max && keys > max)
    throw tooCostly(`_sort has ${keys} keys; at most ${max} are accepted (SEARCH_MAX_SORT_KEYS)`, '_sort');
}

/**
 * Checks the chain and `_has` depth of a criterion, then the branches its SQL expands to on `resourceTypes` (one
 * typed subquery per target type of each untyped chain link, nested: `part-of` of Observation has six target types
 * and each of those has its own `part-of`), counted into `budget` across the criteria of a query. Call it before
 * `checkCriterion`, whose own walk grows with the same expansion.
 */
export function checkCriterionLimits(resourceTypes: string[], c: Criterion, budget: { branches: number }): void {
  const limits = searchConfig();
  let chains = 0;
  let has = 0;
  for (let step: Criterion | undefined = c; step && (step.kind === 'chain' || step.kind === 'has'); step = step.next) {
    if (step.kind === 'chain') chains++;
    else has++;
  }
  const name = 'name' in c ? c.name : undefined;
  if (limits.maxChainDepth && chains > limits.maxChainDepth) {
    throw tooCostly(
      `${name} chains ${chains} links; at most ${limits.maxChainDepth} are accepted (SEARCH_MAX_CHAIN_DEPTH)`,
      name,
    );
  }
  if (limits.maxHasDepth && has > limits.maxHasDepth) {
    throw tooCostly(
      `${name} nests ${has} _has; at most ${limits.maxHasDepth} are accepted (SEARCH_MAX_HAS_DEPTH)`,
      name,
    );
  }
  if (chains + has === 0) return;
  const refuse = () =>
    tooCostly(
      `The chains and _has of this search expand to more than ${limits.maxChainTargets} resource-type branches ` +
        `(SEARCH_MAX_CHAIN_TARGETS); name the target type of each chain link, e.g. subject:Patient.name`,
      name,
    );
  const memo = new Map<Criterion, Map<string, number | undefined>>();
  for (const type of resourceTypes) {
    const room = limits.maxChainTargets ? limits.maxChainTargets - budget.branches : Infinity;
    try {
      budget.branches += expansion(type, c, memo, room) ?? 0;
    } catch (err) {
      throw err instanceof OverBudget ? refuse() : err;
    }
    if (budget.branches > (limits.maxChainTargets || Infinity)) throw refuse();
  }
}

/** Raised inside `expansion` when a subtree alone is over the room left. */
class OverBudget extends Error {}

/**
 * How many typed subqueries `c` expands to on `resourceType`, or undefined when it does not apply to the type (as
 * checkCriterion's UnknownParameter says). Stops as soon as the count passes `room`, so a huge expansion is refused
 * before it is walked; `memo` makes each (criterion, type) pair counted once.
 */
function expansion(
  resourceType: string,
  c: Criterion,
  memo: Map<Criterion, Map<string, number | undefined>>,
  room: number,
): number | undefined {
  let byType = memo.get(c);
  if (!byType) memo.set(c, (byType = new Map()));
  if (byType.has(resourceType)) return byType.get(resourceType);
  let result: number | undefined;
  if (c.kind === 'chain') {
    for (const target of chainTargets(resourceType, c)) {
      const below = expansion(target, c.next, memo, room);
      if (below === undefined) continue;
      result = (result ?? 0) + 1 + below;
      if (result > room) throw new OverBudget();
    }
  } else if (c.kind === 'has') {
    const below = expansion(c.sourceType, c.next, memo, room);
    result = below === undefined ? undefined : 1 + below;
  } else {
    result = applies(resourceType, c) ? 0 : undefined;
  }
  byType.set(resourceType, result);
  return result;
}

function applies(resourceType: string, c: Criterion): boolean {
  try {
    checkCriterion(resourceType, c);
    return true;
  } catch (err) {
    if (err instanceof UnknownParameter) return false;
    throw err;
  }
}
