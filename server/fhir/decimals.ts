/*
 * FHIR decimals carry their precision ("1.50" is not "1.5"), but a JavaScript number forgets it. Resources stay plain
 * objects with plain numbers (validators and FHIRPath need that); the original text of a number whose JavaScript
 * form differs is remembered beside its holder object, and written back:
 *  - to JSON through a non-enumerable `toJSON` on the holder (JSON.stringify honours it; spreads, Object.keys, ajv
 *    and FHIRPath do not see it), emitting the text with `JSON.rawJSON`;
 *  - to XML through `decimalText`.
 * A value changed since it was read no longer matches its text and is written as the new number.
 * No library keeps decimal text on plain objects; Node 22's JSON source-text access makes this a few lines.
 */

declare global {
  interface JSON {
    rawJSON(text: string): unknown;
  }
}

const texts = new WeakMap<object, Map<string | number, string>>();

/** Remembers the source text of a number held at `holder[key]` when JavaScript would print it differently. */
export function keepDecimalText(holder: object, key: string | number, text: string, value: number): void {
  if (String(value) === text) return;
  let map = texts.get(holder);
  if (!map) {
    map = new Map();
    texts.set(holder, map);
    Object.defineProperty(holder, 'toJSON', {
      value: holderToJson,
      enumerable: false,
      configurable: true,
      writable: true,
    });
  }
  map.set(key, text);
}

/** The text to write for the number at `holder[key]`: its source text if it still has that value, else JavaScript's. */
export function decimalText(holder: object, key: string | number, value: number): string {
  const text = texts.get(holder)?.get(key);
  return text !== undefined && Number(text) === value ? text : String(value);
}

/** The source texts kept for numbers held by `holder` (those JavaScript would write differently), if any. */
export function keptNumberTexts(holder: object): Iterable<string> | undefined {
  return texts.get(holder)?.values();
}

function holderToJson(this: Record<string | number, unknown>): unknown {
  const copy = (Array.isArray(this) ? [...this] : { ...this }) as Record<string | number, unknown>;
  for (const [key, text] of texts.get(this) ?? []) {
    if (typeof copy[key] === 'number' && Number(text) === copy[key]) copy[key] = JSON.rawJSON(text);
  }
  return copy;
}

/**
 * A number literal whose JavaScript form differs from its text: a trailing zero (`1.50`), an exponent (`1e3`), 18 or
 * more significant digits (more than a double's shortest form ever has; leading zeros do not count), a tiny value
 * JavaScript prints with an exponent (`0.0000001`), or `-0`. A cheap pre-check before the slow parse; a false alarm
 * only costs time. It lets 17-digit literals through (Synthea is full of them, `0.45200479008509875` too, nearly all
 * in JavaScript's own form): one that is not, such as `66.899999999999991`, is kept as JavaScript writes the same
 * double (`66.89999999999999`) unless parsed `exact`ly.
 */
const NON_CANONICAL_NUMBER =
  /[:[,]\s*(?:-?(?:\d+\.\d*0|\d+(?:\.\d+)?[eE][-+]?\d+|(?:0\.0*)?[1-9](?:\.?\d){17,}|0\.0{6,}\d*)|-0)\s*[,\]}]/;

type SourceReviver = (this: object, key: string, value: unknown, context: { source?: string }) => unknown;

const keepSource: SourceReviver = function (key, value, context) {
  if (typeof value === 'number' && context?.source !== undefined) {
    keepDecimalText(this, Array.isArray(this) ? Number(key) : key, context.source, value);
  }
  return value;
};

/**
 * JSON.parse that keeps the text of numbers such as `1.50`. Unless `exact`, text without such numbers (nearly all of
 * it) takes the plain, fast JSON.parse.
 */
export function parseJsonKeepingDecimals(text: string, exact = false): unknown {
  if (!exact && !NON_CANONICAL_NUMBER.test(text)) return JSON.parse(text);
  return JSON.parse(text, keepSource as unknown as (key: string, value: unknown) => unknown);
}
