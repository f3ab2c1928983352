import {
  convertToSearchableReferences,
  convertToSearchableStrings,
  convertToSearchableTokens,
  convertToSearchableUris,
  evalFhirPathTyped,
  getSearchParameterDetails,
  getSearchParameters,
  toTypedValue,
  type TypedValue,
} from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { SearchCriteria } from '../core/types.ts';

/**
 * Evaluates access criteria against one resource in memory, where the resource is already at hand (a read's result,
 * a write's new and old content). It extracts a parameter's values with @medplum/core's SearchParameter evaluation,
 * as the indexer does, and compares them with the search semantics of the parameter types a scope may use
 * (scopes.ts refuses others): reference `Type/id` or id, token `code` / `system|code` / `|code` / `system|`, string
 * prefix (case- and accent-insensitive), uri exact, `_id`. An unknown parameter matches nothing (fail closed).
 */
export function matchesAny(resource: Resource, alternatives: SearchCriteria[] | undefined): boolean {
  if (alternatives === undefined) return true;
  if (alternatives.length === 0) return false;
  const values = new Map<string, TypedValue[]>();
  const valuesOf = (code: string) => {
    if (!values.has(code)) values.set(code, evaluate(resource, code));
    return values.get(code)!;
  };
  return alternatives.some((criteria) => matchesCriteria(resource, criteria, valuesOf));
}

function evaluate(resource: Resource, code: string): TypedValue[] {
  const sp = getSearchParameters(resource.resourceType)?.[code];
  if (!sp?.expression) return [];
  try {
    return evalFhirPathTyped(getSearchParameterDetails(resource.resourceType, sp).parsedExpression, [
      toTypedValue(resource),
    ]);
  } catch {
    return [];
  }
}

function matchesCriteria(
  resource: Resource,
  criteria: SearchCriteria,
  valuesOf: (code: string) => TypedValue[],
): boolean {
  const params = getSearchParameters(resource.resourceType) ?? {};
  for (const [name, values] of Object.entries(criteria)) {
    for (const value of values) {
      const alternatives = value.split(',');
      if (name === '_id') {
        if (!alternatives.includes(resource.id as string)) return false;
        continue;
      }
      const type = params[name]?.type;
      if (!alternatives.some((v) => matchesValue(valuesOf(name), type, v))) return false;
    }
  }
  return true;
}

/** `Type/id` of a reference (relative, absolute or versioned), or [null, null]. */
function referenceTarget(ref: string): [string | null, string | null] {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref);
  return m ? [m[1], m[2]] : [null, null];
}

function normalize(s: string): string {
  return s
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase();
}

function matchesValue(values: TypedValue[], type: string | undefined, value: string): boolean {
  switch (type) {
    case 'reference': {
      const [wantType, wantId] = value.includes('/') ? referenceTarget(value) : [null, value];
      return convertToSearchableReferences(values).some((ref) => {
        const [targetType, targetId] = referenceTarget(ref);
        return ref === value || (targetId !== null && targetId === wantId && (!wantType || targetType === wantType));
      });
    }
    case 'token': {
      const bar = value.indexOf('|');
      const system = bar < 0 ? undefined : value.slice(0, bar);
      const code = bar < 0 ? value : value.slice(bar + 1);
      return convertToSearchableTokens(values).some(
        (t) =>
          (system === undefined || (system === '' ? !t.system : t.system === system)) &&
          (code === '' || t.value === code),
      );
    }
    case 'string': {
      const prefix = normalize(value);
      return convertToSearchableStrings(values).some((s) => normalize(s).startsWith(prefix));
    }
    case 'uri':
      return convertToSearchableUris(values).includes(value);
    default:
      return false;
  }
}
