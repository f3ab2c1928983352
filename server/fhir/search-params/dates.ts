/**
 * FHIR date/dateTime/instant values as instant ranges. Every FHIR date is a range whose width is its precision
 * (`2020` is the whole year, `2020-03-01T10:00Z` a whole minute); search compares these ranges. Hand-written because
 * the spec's partial dates and time-zone rules are not what general date libraries parse.
 */

/** An inclusive instant range, ISO 8601 UTC with milliseconds; `-infinity`/`infinity` for open ends. */
export type InstantRange = [low: string, high: string];

export const MIN_INSTANT = '-infinity';
export const MAX_INSTANT = 'infinity';

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The instant range a FHIR date, dateTime or instant covers, or undefined if the text is not one. A time without a
 * zone (allowed in search values only) is read as UTC, as are dates.
 */
export function dateRange(text: string): InstantRange | undefined {
  const m = DATE_RE.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo === undefined ? undefined : Number(mo);
  const day = d === undefined ? undefined : Number(d);
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > daysIn(year, month as number))) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59))) return undefined;
  const offsetMs = tz && tz !== 'Z' ? zoneOffsetMs(tz) : 0;
  let start: number;
  let widthMs: number;
  if (month === undefined) {
    start = Date.UTC(year, 0, 1);
    widthMs = Date.UTC(year + 1, 0, 1) - start;
  } else if (day === undefined) {
    start = Date.UTC(year, month - 1, 1);
    widthMs = Date.UTC(year, month, 1) - start;
  } else if (h === undefined) {
    start = Date.UTC(year, month - 1, day);
    widthMs = 86_400_000;
  } else {
    start = Date.UTC(year, month - 1, day, Number(h), Number(mi), Number(s ?? 0)) - offsetMs;
    if (s === undefined) widthMs = 60_000;
    else if (frac === undefined) widthMs = 1000;
    else {
      const digits = Math.min(frac.length, 3);
      start += Number(frac.slice(0, digits).padEnd(3, '0'));
      widthMs = 10 ** (3 - digits);
    }
  }
  if (Number.isNaN(start)) return undefined;
  return [iso(start), iso(start + widthMs - 1)];
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function zoneOffsetMs(tz: string): number {
  const sign = tz[0] === '-' ? -1 : 1;
  return sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000;
}

function iso(ms: number): string {
  const d = new Date(ms);
  // Years before 1 or after 9999 do not occur in FHIR dates; toISOString would print them with a sign.
  return d.toISOString();
}

/** The range of a Period (open ends are unbounded), or undefined when it has neither end. */
export function periodRange(start: string | undefined, end: string | undefined): InstantRange | undefined {
  const s = start ? dateRange(start) : undefined;
  const e = end ? dateRange(end) : undefined;
  if (!s && !e) return undefined;
  return [s ? s[0] : MIN_INSTANT, e ? e[1] : MAX_INSTANT];
}
