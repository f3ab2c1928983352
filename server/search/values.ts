import { badRequest } from '../fhir/outcomes.ts';
import { numberProblem } from '../fhir/well-formed.ts';
import { dateRange, type InstantRange } from '../fhir/search-params/dates.ts';
import { splitUnescaped, unescapeValue } from './escape.ts';

/** The comparison prefixes of number, date and quantity values. */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

/** A number search value: the exact text (for numeric SQL) and half the unit of its last significant digit. */
export interface NumberValue {
  prefix: Prefix;
  text: string;
  /** Half the precision, as numeric text: `100` → `0.5`, `1e2` → `50`. */
  half: string;
}

export interface DateValue {
  prefix: Prefix;
  range: InstantRange;
}

export interface TokenQuery {
  /** undefined: any system; null: no system (`|code`). */
  system?: string | null;
  /** undefined: any code (`system|`). */
  code?: string;
}

export interface QuantityQuery extends NumberValue {
  system?: string;
  unit?: string;
}

const PREFIX_RE = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)(?=[-+.\d])/;
const NUMBER_RE = /^[-+]?(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/;

function splitPrefix(text: string): [Prefix, string] {
  const m = PREFIX_RE.exec(text);
  return m ? [m[1] as Prefix, text.slice(2)] : ['eq', text];
}

/** Parses `[prefix]number` with its implicit precision range; 400 naming the parameter if it is not a number. */
export function parseNumber(name: string, raw: string): NumberValue {
  const [prefix, text] = splitPrefix(unescapeValue(raw));
  const m = NUMBER_RE.exec(text);
  if (!m) throw badRequest(`Invalid number "${raw}" for parameter ${name}`, name);
  const problem = numberProblem(text);
  if (problem) throw badRequest(`Invalid number "${raw}" for parameter ${name}: it ${problem}`, name);
  const decimals = m[2]?.length ?? 0;
  const exponent = Number(m[3] ?? 0);
  return { prefix, text, half: `5e${exponent - decimals - 1}` };
}

/** Parses `[prefix]date` into the instant range it covers; 400 naming the parameter if it is not a date. */
export function parseDate(name: string, raw: string): DateValue {
  const [prefix, text] = splitPrefix(unescapeValue(raw));
  const range = dateRange(text);
  if (!range) throw badRequest(`Invalid date "${raw}" for parameter ${name}`, name);
  return { prefix, range };
}

/** Parses `code`, `system|code`, `|code` or `system|`. */
export function parseToken(raw: string): TokenQuery {
  const parts = splitUnescaped(raw, '|');
  if (parts.length === 1) return { code: unescapeValue(parts[0]) };
  const system = unescapeValue(parts[0]);
  const code = unescapeValue(parts.slice(1).join('|'));
  return { system: system === '' ? null : system, code: code === '' ? undefined : code };
}

/** Parses `[prefix]number|system|code`, `[prefix]number||code` or `[prefix]number`. */
export function parseQuantity(name: string, raw: string): QuantityQuery {
  const [num, system, unit] = splitUnescaped(raw, '|');
  const n = parseNumber(name, num);
  return {
    ...n,
    system: system ? unescapeValue(system) : undefined,
    unit: unit ? unescapeValue(unit) : undefined,
  };
}

/** A reference search value: a local target, or a URL/canonical to match as text. */
export interface ReferenceQuery {
  targetType?: string;
  targetId?: string;
  url?: string;
}

/**
 * Parses `Type/id`, `id`, `[base]/Type/id` (our own base becomes local), other absolute URLs and canonicals
 * (`url|version`). A version in `Type/id/_history/n` is ignored (references index the resource, not a version).
 */
export function parseReference(raw: string, baseUrl: string): ReferenceQuery {
  let text = unescapeValue(raw);
  if (text.startsWith(baseUrl + '/')) text = text.slice(baseUrl.length + 1);
  const local = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(text);
  if (local) return { targetType: local[1], targetId: local[2] };
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(text)) return { targetId: text };
  return { url: text };
}
