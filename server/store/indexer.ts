import { evalFhirPathTyped, toTypedValue, type TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { RESOURCE_TABLE_CODES, searchParams, type ParamType, type TypedParam } from '../fhir/search-params/registry.ts';
import {
  dateValues,
  identifierTypeValues,
  numberValues,
  positionValues,
  quantityValues,
  referenceIdentifierValues,
  referenceValues,
  stringValue,
  stringValues,
  tokenTexts,
  tokenValues,
  uriValues,
} from './index-values.ts';

/**
 * Index rows for one resource, grouped by the table they go to. Each row starts with the parameter code; the writer
 * adds the resource's `rid` and type. Derived rows use codes no SearchParameter can have (`code:text`,
 * `subject:identifier`, `identifier:of-type`), so one table serves a parameter and its modifiers.
 */
export interface IndexRows {
  token: [code: string, system: string | null, value: string | null][];
  string: [code: string, value: string, exact: string | null][];
  reference: [code: string, targetType: string | null, targetId: string | null, url: string | null][];
  date: [code: string, low: string, high: string][];
  number: [code: string, low: number, high: number][];
  quantity: [code: string, system: string | null, unit: string | null, low: number, high: number][];
  uri: [code: string, value: string][];
  /** Composite (and `near`) tuples: one JSON array of component values per element. */
  composite: [code: string, components: string][];
  /** The resource's contained resources with their own index rows, for `_contained` search. */
  contained: ContainedIndex[];
}

/** A contained resource as indexed: its type, local id, JSON and index rows. */
export interface ContainedIndex {
  resourceType: string;
  id: string;
  content: string;
  rows: IndexRows;
}

/** The index tables, in the order rows are written. */
export const INDEX_TABLES = ['token', 'string', 'reference', 'date', 'number', 'quantity', 'uri', 'composite'] as const;
export type IndexTable = (typeof INDEX_TABLES)[number];

/** Suffixes of derived index codes. */
export const TEXT_SUFFIX = ':text';
export const IDENTIFIER_SUFFIX = ':identifier';
export const OF_TYPE_SUFFIX = ':of-type';

/** An empty set of index rows (for a deletion). */
export function emptyIndexRows(): IndexRows {
  return {
    token: [],
    string: [],
    reference: [],
    date: [],
    number: [],
    quantity: [],
    uri: [],
    composite: [],
    contained: [],
  };
}

/** Options of index extraction. */
export interface ExtractOptions {
  /** `false` forces the FHIRPath engine (for comparison with the compiled property walks). */
  fastPath?: boolean;
  /** Only these parameter codes (subscription matching needs a few, not all). */
  only?: ReadonlySet<string>;
}

/**
 * Computes the search index rows of a resource from the FHIRPath expression of every SearchParameter that applies
 * to its type (spec parameters plus any added at runtime). Values FHIRPath cannot evaluate are skipped, never fatal.
 * Simple expressions run as compiled property walks.
 */
export function extractIndexRows(resource: Resource, options: ExtractOptions = {}): IndexRows {
  const rows = ownIndexRows(resource, options);
  for (const c of (resource as { contained?: Resource[] }).contained ?? []) {
    if (typeof c?.resourceType !== 'string' || typeof c.id !== 'string') continue;
    rows.contained.push({
      resourceType: c.resourceType,
      id: c.id,
      content: JSON.stringify(c),
      rows: ownIndexRows(c, options),
    });
  }
  return rows;
}

function ownIndexRows(resource: Resource, options: ExtractOptions): IndexRows {
  const rows = emptyIndexRows();
  const fastPath = options.fastPath ?? true;
  let root: TypedValue[] | undefined;
  let variables: Record<string, TypedValue> = {};
  for (const param of searchParams(resource.resourceType)) {
    if (!param.atom || RESOURCE_TABLE_CODES.has(param.code) || (options.only && !options.only.has(param.code)))
      continue;
    if (fastPath && param.extractComposite) {
      for (const components of param.extractComposite(resource)) addComposite(rows, param, components);
      continue;
    }
    let values: TypedValue[];
    try {
      if (fastPath && param.extract) values = param.extract(resource);
      else {
        if (!root) {
          root = [toTypedValue(resource)];
          variables = { '%resource': root[0], '%rootResource': root[0] };
        }
        values = evalFhirPathTyped(param.atom, root, variables);
      }
    } catch {
      continue;
    }
    if (values.length === 0) continue;
    if (param.type === 'composite') addCompositeRows(rows, param, values, variables);
    else addRows(rows, param, values);
  }
  return rows;
}

function addRows(rows: IndexRows, param: TypedParam, values: TypedValue[]): void {
  const code = param.code;
  switch (param.type) {
    case 'token':
      for (const t of tokenValues(values, param.implicitSystem)) rows.token.push([code, t.system, t.value]);
      for (const text of tokenTexts(values)) {
        const s = stringValue(text);
        rows.string.push([code + TEXT_SUFFIX, s.value, s.exact]);
      }
      for (const t of identifierTypeValues(values)) rows.token.push([code + OF_TYPE_SUFFIX, t.system, t.value]);
      break;
    case 'string':
      for (const s of stringValues(values)) rows.string.push([code, s.value, s.exact]);
      break;
    case 'reference':
      for (const r of referenceValues(values)) rows.reference.push([code, r.targetType, r.targetId, r.url]);
      for (const t of referenceIdentifierValues(values)) rows.token.push([code + IDENTIFIER_SUFFIX, t.system, t.value]);
      break;
    case 'date':
      for (const [low, high] of dateValues(values)) rows.date.push([code, low, high]);
      break;
    case 'number':
      for (const n of numberValues(values)) rows.number.push([code, n.low, n.high]);
      break;
    case 'quantity':
      for (const q of quantityValues(values)) rows.quantity.push([code, q.system, q.unit, q.low, q.high]);
      break;
    case 'uri':
      for (const u of uriValues(values)) rows.uri.push([code, u]);
      break;
    case 'special':
      for (const p of positionValues(values)) rows.composite.push([code, JSON.stringify([{ n: p.lat }, { n: p.lon }])]);
      break;
    default:
      break;
  }
}

/**
 * Composite parameters: for each element the composite's expression selects, every combination of its components'
 * values becomes one row, so `code-value-quantity` matches a code and a value of the same Observation component.
 */
function addCompositeRows(
  rows: IndexRows,
  param: TypedParam,
  elements: TypedValue[],
  variables: Record<string, TypedValue>,
): void {
  for (const element of elements) {
    const components = (param.components ?? []).map((component) => {
      try {
        return evalFhirPathTyped(component.expression, [element], variables);
      } catch {
        return [];
      }
    });
    addComposite(rows, param, components);
  }
}

/** One row per combination of the component values of one element. */
function addComposite(rows: IndexRows, param: TypedParam, components: TypedValue[][]): void {
  let combos: object[][] = [[]];
  for (const [i, component] of (param.components ?? []).entries()) {
    const encoded = componentValues(component.param.type, components[i] ?? []);
    combos = combos.flatMap((combo) => encoded.map((v) => [...combo, v]));
    if (combos.length === 0) return;
  }
  for (const combo of combos) rows.composite.push([param.code, JSON.stringify(combo)]);
}

/** A component's values in the JSON shape the composite predicates read (`v` is the indexed first key). */
function componentValues(type: ParamType, values: TypedValue[]): object[] {
  switch (type) {
    case 'token':
      return tokenValues(values).map((t) => ({ s: t.system, v: t.value }));
    case 'string':
      return stringValues(values).map((s) => ({ v: s.value, e: s.exact }));
    case 'reference':
      return referenceValues(values).map((r) => ({ t: r.targetType, i: r.targetId, u: r.url }));
    case 'date':
      return dateValues(values).map(([lo, hi]) => ({ lo, hi }));
    case 'number':
      return numberValues(values).map((n) => ({ lo: jsonNumber(n.low), hi: jsonNumber(n.high) }));
    case 'quantity':
      return quantityValues(values).map((q) => ({
        s: q.system,
        u: q.unit,
        lo: jsonNumber(q.low),
        hi: jsonNumber(q.high),
      }));
    case 'uri':
      return uriValues(values).map((v) => ({ v }));
    default:
      return [];
  }
}

/** JSON has no infinities: open bounds are written as the text Postgres' numeric reads back. */
function jsonNumber(n: number): number | string {
  return Number.isFinite(n) ? n : String(n);
}
