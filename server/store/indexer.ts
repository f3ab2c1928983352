import {
  convertToSearchableDates,
  convertToSearchableNumbers,
  convertToSearchableQuantities,
  convertToSearchableReferences,
  convertToSearchableStrings,
  convertToSearchableTokens,
  convertToSearchableUris,
  evalFhirPathTyped,
  getSearchParameterDetails,
  getSearchParameters,
  toTypedValue,
} from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';

/** Index rows for one resource, grouped by the table they go to. Each row starts with the parameter code. */
export interface IndexRows {
  token: [code: string, system: string | null, value: string | null, text: string | null][];
  string: [code: string, value: string, exact: string][];
  reference: [code: string, targetType: string | null, targetId: string | null, reference: string][];
  date: [code: string, low: string | null, high: string | null][];
  number: [code: string, low: number | null, high: number | null][];
  quantity: [code: string, system: string | null, unit: string | null, low: number | null, high: number | null][];
  uri: [code: string, value: string][];
}

/** The index tables, in the order rows are written. */
export const INDEX_TABLES = ['token', 'string', 'reference', 'date', 'number', 'quantity', 'uri'] as const;
export type IndexTable = (typeof INDEX_TABLES)[number];

/** Parameters answered from the resource table itself, never indexed. */
const SKIPPED_CODES = new Set(['_id', '_lastUpdated']);

/** Lower-cases and strips accents, as the spec's string search is case- and accent-insensitive. */
export function normalizeString(s: string): string {
  return s.normalize('NFD').replace(/\p{Diacritic}/gu, '').toLowerCase();
}

const FAR_PAST = '0001-01-01T00:00:00.000Z';
const FAR_FUTURE = '9999-12-31T23:59:59.999Z';

function validInstant(s: string | undefined): string | null {
  if (!s) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** Splits `Type/id` (optionally with `/_history/n` or an absolute base) into its target type and id. */
export function parseReferenceTarget(ref: string): [string | null, string | null] {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref);
  return m ? [m[1], m[2]] : [null, null];
}

/** Search parameters of a type that are written to index tables (composite and special come with the search engine). */
export function indexedParameters(resourceType: string): SearchParameter[] {
  const all = getSearchParameters(resourceType) ?? {};
  return Object.values(all).filter((sp) => !SKIPPED_CODES.has(sp.code as string) && sp.expression);
}

/**
 * Computes the search index rows of a resource from the FHIRPath expression of every SearchParameter that applies
 * to its type (spec parameters plus any added at runtime). Values FHIRPath cannot evaluate are skipped, never fatal.
 */
export function extractIndexRows(resource: Resource): IndexRows {
  const rows: IndexRows = { token: [], string: [], reference: [], date: [], number: [], quantity: [], uri: [] };
  const root = [toTypedValue(resource)];
  for (const sp of indexedParameters(resource.resourceType)) {
    const code = sp.code as string;
    let values;
    try {
      values = evalFhirPathTyped(getSearchParameterDetails(resource.resourceType, sp).parsedExpression, root);
    } catch {
      continue;
    }
    if (values.length === 0) continue;
    addRows(rows, code, sp.type, values);
  }
  return rows;
}

function addRows(rows: IndexRows, code: string, type: SearchParameter['type'], values: ReturnType<typeof toTypedValue>[]): void {
  switch (type) {
    case 'token':
      for (const t of convertToSearchableTokens(values)) {
        rows.token.push([code, t.system ?? null, t.value ?? null, tokenText(values)]);
      }
      break;
    case 'string':
      for (const s of convertToSearchableStrings(values)) {
        if (s) rows.string.push([code, normalizeString(s), s]);
      }
      break;
    case 'reference':
      for (const r of convertToSearchableReferences(values)) {
        if (!r) continue;
        const [targetType, targetId] = parseReferenceTarget(r);
        rows.reference.push([code, targetType, targetId, r]);
      }
      break;
    case 'date':
      for (const p of convertToSearchableDates(values)) {
        const low = validInstant(p.start) ?? (p.end ? FAR_PAST : null);
        const high = validInstant(p.end) ?? (p.start ? FAR_FUTURE : null);
        if (low || high) rows.date.push([code, low, high]);
      }
      break;
    case 'number':
      for (const [low, high] of convertToSearchableNumbers(values)) {
        rows.number.push([code, finite(low), finite(high)]);
      }
      break;
    case 'quantity':
      for (const q of convertToSearchableQuantities(values)) {
        const v = finite(q.value);
        rows.quantity.push([code, q.system ?? null, q.code ?? q.unit ?? null, v, v]);
      }
      break;
    case 'uri':
      for (const u of convertToSearchableUris(values)) {
        if (u) rows.uri.push([code, u]);
      }
      break;
    default:
      break;
  }
}

function finite(n: number | undefined | null): number | null {
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

/** The human text of a CodeableConcept/Coding, kept for the `:text` modifier. */
function tokenText(values: ReturnType<typeof toTypedValue>[]): string | null {
  for (const v of values) {
    const x = v.value as { text?: string; display?: string; coding?: { display?: string }[] } | undefined;
    if (x && typeof x === 'object') {
      const text = x.text ?? x.display ?? x.coding?.find((c) => c.display)?.display;
      if (text) return normalizeString(text);
    }
  }
  return null;
}
