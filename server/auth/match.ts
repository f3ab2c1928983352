import { getSearchParameters } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { SearchCriteria } from '../rest/types.ts';
import { extractIndexRows, normalizeString, parseReferenceTarget, type IndexRows } from '../store/indexer.ts';

/**
 * Evaluates access criteria against one resource in memory, on the very index rows the store writes (indexer.ts) and
 * the search engine's SQL predicates read, so a read by id or a write is judged exactly as a search would judge it.
 * Used where the resource is already at hand (a read's result, a write's new and old content). Only the parameter
 * types a scope may use are supported (scopes.ts refuses others); an unknown parameter matches nothing (fail closed).
 */
export function matchesAny(resource: Resource, alternatives: SearchCriteria[] | undefined): boolean {
  if (alternatives === undefined) return true;
  if (alternatives.length === 0) return false;
  const rows = extractIndexRows(resource);
  return alternatives.some((criteria) => matchesCriteria(resource, rows, criteria));
}

function matchesCriteria(resource: Resource, rows: IndexRows, criteria: SearchCriteria): boolean {
  const params = getSearchParameters(resource.resourceType) ?? {};
  for (const [name, values] of Object.entries(criteria)) {
    for (const value of values) {
      const alternatives = value.split(',');
      if (name === '_id') {
        if (!alternatives.includes(resource.id as string)) return false;
        continue;
      }
      const type = params[name]?.type;
      if (!alternatives.some((v) => matchesValue(rows, name, type, v))) return false;
    }
  }
  return true;
}

function matchesValue(rows: IndexRows, code: string, type: string | undefined, value: string): boolean {
  switch (type) {
    case 'reference': {
      const [wantType, wantId] = value.includes('/') ? parseReferenceTarget(value) : [null, value];
      return rows.reference.some(
        ([c, targetType, targetId, reference]) =>
          c === code && (reference === value || (targetId === wantId && (!wantType || targetType === wantType))),
      );
    }
    case 'token': {
      const bar = value.indexOf('|');
      const system = bar < 0 ? undefined : value.slice(0, bar);
      const tokenCode = bar < 0 ? value : value.slice(bar + 1);
      return rows.token.some(
        ([c, s, v]) =>
          c === code &&
          (system === undefined || (system === '' ? s === null : s === system)) &&
          (tokenCode === '' || v === tokenCode),
      );
    }
    case 'string': {
      const prefix = normalizeString(value);
      return rows.string.some(([c, v]) => c === code && v.startsWith(prefix));
    }
    case 'uri':
      return rows.uri.some(([c, v]) => c === code && v === value);
    default:
      return false;
  }
}
