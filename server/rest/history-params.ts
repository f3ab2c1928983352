import { badRequest } from '../fhir/outcomes.ts';

/** A time period as ISO instants, both ends included. */
export interface Period {
  start: string;
  end: string;
}

const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/**
 * The period a FHIR dateTime covers at its precision: `2024` is the whole year, `2024-03-05` the whole day,
 * `2024-03-05T10:00:00Z` that second; a fractional instant is that instant. 400 (naming `param`) if it is not one.
 */
export function dateTimePeriod(value: string, param: string): Period {
  const m = DATE_TIME.exec(value);
  if (!m) throw badRequest(`${param} must be a FHIR dateTime or instant, got "${value}"`, param);
  const [, y, mo, d, hh, mi, ss, frac, tz] = m;
  let start: number;
  let end: number;
  if (hh !== undefined) {
    start = Date.parse(value);
    const unit = frac ? 0 : ss !== undefined ? 1000 : 60_000;
    end = start + Math.max(unit - 1, 0);
    if (!validClock(hh, mi, ss) || !validCalendar(+y, +mo, +d) || tz === undefined) start = NaN;
  } else {
    const month = mo === undefined ? 0 : +mo - 1;
    start = Date.UTC(+y, month, d === undefined ? 1 : +d);
    const next =
      d !== undefined
        ? Date.UTC(+y, month, +d + 1)
        : mo !== undefined
          ? Date.UTC(+y, month + 1, 1)
          : Date.UTC(+y + 1, 0, 1);
    end = next - 1;
    if (mo !== undefined && !validCalendar(+y, +mo, d === undefined ? 1 : +d)) start = NaN;
  }
  if (Number.isNaN(start)) throw badRequest(`${param} is not a valid date/time: "${value}"`, param);
  return { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
}

function validCalendar(y: number, mo: number, d: number): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

function validClock(hh: string, mi: string, ss: string | undefined): boolean {
  return +hh < 24 && +mi < 60 && (ss === undefined || +ss < 60);
}

/** Position of the last entry of a history page: the next page continues strictly after (older than) it. */
export interface HistoryCursor {
  lastUpdated: string;
  resourceType: string;
  id: string;
  versionId: number;
}

/** Encodes a history cursor for a `next` link. */
export function encodeCursor(c: HistoryCursor): string {
  return Buffer.from(JSON.stringify([c.lastUpdated, c.resourceType, c.id, c.versionId])).toString('base64url');
}

/** Decodes a `_cursor` parameter; 400 if it was not made by encodeCursor. */
export function decodeCursor(text: string): HistoryCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 4 &&
    typeof parsed[0] === 'string' &&
    !Number.isNaN(Date.parse(parsed[0])) &&
    typeof parsed[1] === 'string' &&
    typeof parsed[2] === 'string' &&
    Number.isInteger(parsed[3])
  ) {
    return { lastUpdated: parsed[0], resourceType: parsed[1], id: parsed[2], versionId: parsed[3] };
  }
  throw badRequest('Invalid _cursor', '_cursor');
}
