import { loadDefinitions } from '../fhir/definitions.ts';
import { badRequest } from '../fhir/outcomes.ts';
import { checkCriterion, parseCriterion, UnknownParameter } from './criteria.ts';
import { checkCriterionLimits, checkQueryLimits, checkSortLimit } from './limits.ts';
import type { Cursor, IncludeSpec, SearchRequest, SortKey, TotalMode } from './model.ts';
import { searchParam } from '../fhir/search-params/registry.ts';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** How unknown parameters are treated (`Prefer: handling=`); lenient is the default. */
export type Handling = 'strict' | 'lenient';

/** Parameters that shape the result rather than select it. */
const RESULT_PARAMS = new Set([
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
]);
/** Parameters about the response format, echoed in links but not interpreted here. */
const FORMAT_PARAMS = new Set(['_format', '_pretty']);
/** Parameters a router consumes before search (`_type` of system search). */
const ROUTING_PARAMS = new Set(['_type']);
const SORTABLE = new Set(['string', 'token', 'date', 'number', 'quantity', 'uri', 'reference']);

/**
 * Parses a search query for one or more resource types into a SearchRequest. Unknown parameters are dropped with a
 * warning (lenient) or refused (strict); invalid values of known parameters are always a 400 naming the parameter.
 * A query over the limits of server/search/limits.ts is refused (400) before anything else is done with it.
 */
export function parseSearch(
  resourceTypes: string[],
  query: Record<string, string[]>,
  handling: Handling,
): SearchRequest {
  checkQueryLimits(query);
  const budget = { branches: 0 };
  const req: SearchRequest = {
    resourceTypes,
    criteria: [],
    sort: [],
    count: DEFAULT_COUNT,
    includes: [],
    revincludes: [],
    used: [],
    warnings: [],
  };
  const ignore = (message: string) => {
    if (handling === 'strict') throw badRequest(message);
    req.warnings.push(message);
  };
  for (const [rawName, values] of Object.entries(query)) {
    const [base, modifier] = splitModifier(rawName);
    if (ROUTING_PARAMS.has(base)) continue;
    for (const value of values) {
      // A parameter without a value is ignored (search.html: it is as if it were absent).
      if (value === '') continue;
      if (FORMAT_PARAMS.has(base)) {
        req.used.push([rawName, value]);
      } else if (RESULT_PARAMS.has(base)) {
        if (parseResultParam(req, base, modifier, value, ignore)) req.used.push([rawName, value]);
      } else {
        const criterion = parseCriterion(rawName, value);
        try {
          checkCriterionLimits(resourceTypes, criterion, budget);
          for (const type of resourceTypes) checkCriterion(type, criterion);
        } catch (err) {
          if (!(err instanceof UnknownParameter)) throw err;
          ignore(`${err.message}; the parameter "${rawName}" was ignored`);
          continue;
        }
        req.criteria.push(criterion);
        req.used.push([rawName, value]);
      }
    }
  }
  return req;
}

function splitModifier(name: string): [string, string | undefined] {
  const colon = name.indexOf(':');
  return colon < 0 ? [name, undefined] : [name.slice(0, colon), name.slice(colon + 1)];
}

/** Applies one result parameter; returns false when it was ignored. */
function parseResultParam(
  req: SearchRequest,
  name: string,
  modifier: string | undefined,
  value: string,
  ignore: (message: string) => void,
): boolean {
  switch (name) {
    case '_count': {
      const n = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
        throw badRequest('_count must be a non-negative integer', '_count');
      req.count = Math.min(n, MAX_COUNT);
      return true;
    }
    case '_total':
      if (!['none', 'estimate', 'accurate'].includes(value)) {
        throw badRequest('_total must be none, estimate or accurate', '_total');
      }
      req.total = value as TotalMode;
      return true;
    case '_summary':
      if (!['true', 'text', 'data', 'count', 'false'].includes(value)) {
        throw badRequest('_summary must be true, text, data, count or false', '_summary');
      }
      req.summary = value as SearchRequest['summary'];
      return true;
    case '_elements':
      req.elements = value
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
      return true;
    case '_sort':
      req.sort = parseSort(req.resourceTypes, value, ignore);
      return true;
    case '_include':
    case '_revinclude': {
      if (modifier !== undefined && modifier !== 'iterate' && modifier !== 'recurse') {
        throw badRequest(`Modifier ":${modifier}" is not supported on ${name}`, name);
      }
      const spec = parseInclude(name, value, modifier !== undefined);
      (name === '_include' ? req.includes : req.revincludes).push(spec);
      return true;
    }
    case '_cursor':
      req.cursor = decodeCursor(value);
      return true;
    case '_contained':
      if (!['true', 'false', 'both'].includes(value)) throw badRequest('_contained must be true, false or both', name);
      req.contained = value === 'false' ? undefined : (value as 'true' | 'both');
      return true;
    case '_containedType':
      if (value !== 'container' && value !== 'contained')
        throw badRequest('_containedType must be container or contained', name);
      req.containedType = value;
      return true;
    default:
      return false;
  }
}

function parseSort(resourceTypes: string[], value: string, ignore: (m: string) => void): SortKey[] {
  const keys: SortKey[] = [];
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  checkSortLimit(parts.length);
  for (const part of parts) {
    const descending = part.startsWith('-');
    const code = descending ? part.slice(1) : part;
    if (code === '_id' || code === '_lastUpdated') {
      keys.push({ code, descending });
      continue;
    }
    const unsortable = resourceTypes.find((t) => {
      const p = searchParam(t, code);
      return !p || !SORTABLE.has(p.type);
    });
    if (unsortable) {
      ignore(`_sort: "${code}" is not a sortable parameter of ${unsortable}; it was ignored`);
      continue;
    }
    keys.push({ code, descending });
  }
  return keys;
}

function parseInclude(name: string, value: string, iterate: boolean): IncludeSpec {
  if (value === '*') return { sourceType: '*', iterate };
  const [sourceType, code, targetType, ...extra] = value.split(':');
  const types = loadDefinitions().resourceTypeSet;
  if (!types.has(sourceType) || !code || extra.length > 0) {
    throw badRequest(`${name}=${value}: expected SourceType:parameter[:TargetType]`, name);
  }
  if (code === '*') return { sourceType, iterate, targetType };
  const param = searchParam(sourceType, code);
  if (!param || param.type !== 'reference') {
    throw badRequest(`${name}=${value}: ${sourceType} has no reference parameter "${code}"`, name);
  }
  if (targetType !== undefined && (!types.has(targetType) || !param.target.includes(targetType))) {
    throw badRequest(`${name}=${value}: ${sourceType}.${code} cannot refer to "${targetType}"`, name);
  }
  return { sourceType, code, targetType, iterate };
}

/** Encodes a keyset position for a paging link. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.direction === 'next' ? 'n' : 'p', cursor.rid, cursor.values])).toString(
    'base64url',
  );
}

/** Decodes a `_cursor` from a paging link; 400 if it is not one. */
export function decodeCursor(value: string): Cursor {
  try {
    const [d, rid, values] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    if ((d !== 'n' && d !== 'p') || !Number.isSafeInteger(rid) || !Array.isArray(values)) throw new Error('shape');
    if (!values.every((v) => v === null || typeof v === 'string' || typeof v === 'number')) throw new Error('values');
    return { direction: d === 'n' ? 'next' : 'previous', rid, values };
  } catch {
    throw badRequest('Invalid _cursor (use the links of a previous page)', '_cursor');
  }
}
