import type { TypedValue } from '@medplum/core';
import { createHash } from 'node:crypto';
import { dateRange, periodRange, type InstantRange } from '../fhir/search-params/dates.ts';

/**
 * Conversion of FHIRPath results into search index values, one function per search parameter type. Hand-written
 * rather than @medplum/core's convertToSearchable* because the spec's matching needs more than those give: every part
 * of a HumanName/Address on its own, CodeableConcept texts for `:text`, identifier types for `:of-type`, reference
 * identifiers for `:identifier`, Timing and Range bounds, and values bounded in length for btree indexes.
 */

export interface TokenValue {
  system: string | null;
  value: string | null;
}
export interface StringValue {
  /** Normalised (case and accents folded), bounded in length. */
  value: string;
  /** The value as written when it differs from `value`, for `:exact`. */
  exact: string | null;
}
export interface ReferenceValue {
  targetType: string | null;
  targetId: string | null;
  /** Absolute, canonical or otherwise non-local reference text. */
  url: string | null;
}
/** A numeric range; open ends are -Infinity/Infinity (Postgres numeric stores them), so predicates need no NULL cases. */
export interface RangeValue {
  low: number;
  high: number;
}
export interface QuantityValue extends RangeValue {
  system: string | null;
  unit: string | null;
}

/** Longest text kept verbatim in an index column; longer values keep a prefix plus a hash (btree entries are bounded). */
const MAX_INDEXED_CHARS = 256;
const KEPT_PREFIX = 200;

/** Bounds a value for an index column: long values become a prefix plus a hash, so equality still works. */
export function fit(s: string): string {
  if (s.length <= MAX_INDEXED_CHARS) return s;
  return `${s.slice(0, KEPT_PREFIX)}#${createHash('sha1').update(s).digest('hex')}`;
}

/** Lower-cases and strips accents, as the spec's string search is case- and accent-insensitive. */
export function normalizeString(s: string): string {
  // Most values are ASCII: skip the Unicode decomposition for them.
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  return s
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase();
}

/** A string index value: normalised and exact forms. */
export function stringValue(s: string): StringValue {
  const value = fit(normalizeString(s));
  const exact = fit(s);
  return { value, exact: exact === value ? null : exact };
}

/** Splits `Type/id` (optionally with `/_history/n` or an absolute base) into its target type and id. */
export function parseReferenceTarget(ref: string): [string | null, string | null] {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref);
  return m ? [m[1], m[2]] : [null, null];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- resource JSON of any shape, read defensively below
type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null;
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * Token values of FHIRPath results (Coding, CodeableConcept, Identifier, ContactPoint, code, boolean, ...). Plain
 * `code` values get `implicitSystem`, the code system of the ValueSet their element is bound to, when there is one.
 */
export function tokenValues(values: TypedValue[], implicitSystem?: string): TokenValue[] {
  const out: TokenValue[] = [];
  const add = (system: unknown, value: unknown) => {
    const s = str(system);
    const v = typeof value === 'boolean' || typeof value === 'number' ? String(value) : str(value);
    if ((s || v) && !out.some((t) => t.system === s && t.value === v))
      out.push({ system: s && fit(s), value: v && fit(v) });
  };
  for (const { type, value } of values) {
    if (!isObj(value)) add(type === 'code' ? (implicitSystem ?? null) : null, value);
    else if (type === 'CodeableConcept' || Array.isArray(value.coding))
      for (const c of value.coding ?? []) add(c.system, c.code);
    else if (type === 'Coding' || 'code' in value) add(value.system, value.code);
    else if (type === 'ContactPoint')
      add(value.system, typeof value.value === 'string' ? value.value.toLowerCase() : null);
    else if (type === 'Identifier' || 'value' in value) add(value.system, value.value);
    else if (type === 'Reference' && typeof value.reference === 'string') add(null, value.reference);
  }
  return out;
}

/** The human texts of codes (CodeableConcept.text, Coding.display), for the token `:text` modifier. */
export function tokenTexts(values: TypedValue[]): string[] {
  const out = new Set<string>();
  for (const { value } of values) {
    if (!isObj(value)) continue;
    if (str(value.text)) out.add(value.text);
    if (str(value.display)) out.add(value.display);
    for (const c of Array.isArray(value.coding) ? value.coding : []) if (str(c.display)) out.add(c.display);
    if (isObj(value.type) && str(value.type.text)) out.add(value.type.text);
  }
  return [...out];
}

/** Identifier types as `typeSystem|typeCode` with the identifier value, for the `:of-type` modifier. */
export function identifierTypeValues(values: TypedValue[]): TokenValue[] {
  const out: TokenValue[] = [];
  for (const { value } of values) {
    if (!isObj(value) || !isObj(value.type) || !str(value.value)) continue;
    for (const c of value.type.coding ?? []) {
      if (str(c.code)) out.push({ system: fit(`${c.system ?? ''}|${c.code}`), value: fit(value.value) });
    }
  }
  return out;
}

const NAME_PARTS = ['family', 'given', 'prefix', 'suffix', 'text'];
const ADDRESS_PARTS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];

/** String values: each part of a HumanName or Address on its own, other strings as they are. */
export function stringValues(values: TypedValue[]): StringValue[] {
  const texts = new Set<string>();
  for (const { type, value } of values) {
    if (typeof value === 'string') texts.add(value);
    else if (!isObj(value)) continue;
    else if (type === 'HumanName' || type === 'Address' || 'family' in value || 'line' in value || 'city' in value) {
      for (const part of type === 'Address' ? ADDRESS_PARTS : [...NAME_PARTS, ...ADDRESS_PARTS]) {
        const v = value[part];
        for (const s of Array.isArray(v) ? v : [v]) if (str(s)) texts.add(s);
      }
    } else if (str(value.text)) texts.add(value.text);
    else if (str(value.display)) texts.add(value.display);
  }
  return [...texts].map(stringValue);
}

/** Reference values: local `Type/id` targets, and the text of absolute, canonical and logical references. */
export function referenceValues(values: TypedValue[]): ReferenceValue[] {
  const out: ReferenceValue[] = [];
  const addText = (ref: string, parse: boolean) => {
    const [targetType, targetId] = parse ? parseReferenceTarget(ref) : [null, null];
    const local = targetType !== null && !/^[a-z]+:/i.test(ref);
    out.push({ targetType, targetId, url: local ? null : fit(ref) });
  };
  for (const { value } of values) {
    if (typeof value === 'string') addText(value, false);
    else if (!isObj(value)) continue;
    else if (typeof value.reference === 'string') addText(value.reference, !value.reference.startsWith('#'));
    else if (typeof value.resourceType === 'string' && typeof value.id === 'string') {
      out.push({ targetType: value.resourceType, targetId: value.id, url: null });
    } else if (isObj(value.identifier)) out.push({ targetType: null, targetId: null, url: null });
  }
  return out;
}

/** The identifiers of logical references (Reference.identifier), for the reference `:identifier` modifier. */
export function referenceIdentifierValues(values: TypedValue[]): TokenValue[] {
  return tokenValues(
    values
      .filter((v) => isObj(v.value) && isObj(v.value.identifier))
      .map((v) => ({ type: 'Identifier', value: v.value.identifier })),
  );
}

/** Date ranges of date, dateTime, instant, Period and Timing values. */
export function dateValues(values: TypedValue[]): InstantRange[] {
  const out: InstantRange[] = [];
  const push = (r: InstantRange | undefined) => r && out.push(r);
  for (const { value } of values) {
    if (typeof value === 'string') push(dateRange(value));
    else if (!isObj(value)) continue;
    else if ('start' in value || 'end' in value)
      push(periodRange(str(value.start) ?? undefined, str(value.end) ?? undefined));
    else if (Array.isArray(value.event) || isObj(value.repeat)) push(timingRange(value));
  }
  return out;
}

/** A Timing covers its events, or else its repeat bounds. */
function timingRange(timing: Obj): InstantRange | undefined {
  const events = (timing.event ?? []).map((e: string) => dateRange(e)).filter(Boolean) as InstantRange[];
  if (events.length > 0) {
    const lows = events.map((e) => e[0]).sort();
    const highs = events.map((e) => e[1]).sort();
    return [lows[0], highs[highs.length - 1]];
  }
  const bounds = timing.repeat?.boundsPeriod;
  return isObj(bounds) ? periodRange(bounds.start, bounds.end) : undefined;
}

/** Number ranges of integer, decimal and Range values. */
export function numberValues(values: TypedValue[]): RangeValue[] {
  const out: RangeValue[] = [];
  for (const { value } of values) {
    if (typeof value === 'number' && Number.isFinite(value)) out.push({ low: value, high: value });
    else if (isObj(value) && (isObj(value.low) || isObj(value.high))) {
      out.push({ low: num(value.low?.value) ?? -Infinity, high: num(value.high?.value) ?? Infinity });
    }
  }
  return out;
}

/** Quantity values (Quantity, Age, Duration, Money, Range, plain numbers). */
export function quantityValues(values: TypedValue[]): QuantityValue[] {
  const out: QuantityValue[] = [];
  for (const { value } of values) {
    if (typeof value === 'number' && Number.isFinite(value))
      out.push({ system: null, unit: null, low: value, high: value });
    else if (!isObj(value)) continue;
    else if (isObj(value.low) || isObj(value.high)) {
      const q = (value.low ?? value.high) as Obj;
      out.push({ ...unitOf(q), low: num(value.low?.value) ?? -Infinity, high: num(value.high?.value) ?? Infinity });
    } else if (typeof value.value === 'number' && Number.isFinite(value.value)) {
      out.push({ ...unitOf(value), low: value.value, high: value.value });
    }
  }
  return out;
}

function unitOf(q: Obj): { system: string | null; unit: string | null } {
  if (str(q.currency)) return { system: 'urn:iso:std:iso:4217', unit: q.currency };
  return { system: str(q.system), unit: str(q.code) ?? str(q.unit) };
}

/** URI values (uri, url, canonical, oid, uuid). */
export function uriValues(values: TypedValue[]): string[] {
  return [...new Set(values.map((v) => v.value).filter((v): v is string => typeof v === 'string' && v !== ''))].map(
    fit,
  );
}

/** Geographic positions (Location.position) as latitude/longitude, for the `near` parameter. */
export function positionValues(values: TypedValue[]): { lat: number; lon: number }[] {
  return values
    .map((v) => v.value)
    .filter((p): p is Obj => isObj(p) && typeof p.latitude === 'number' && typeof p.longitude === 'number')
    .map((p) => ({ lat: p.latitude, lon: p.longitude }));
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
