/** A v2 DTM/DT/TS value as FHIR: `date` (year, month or day precision) or `dateTime` (with seconds and an offset). */
export interface FhirTime {
  value: string;
  /** `date` when the v2 value has no time: a date stays a date. */
  kind: 'date' | 'dateTime';
}

const DTM = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,9}))?([+-]\d{4})?$/;
const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * Converts a v2 date/time (DTM; TS's first component) to FHIR, keeping its precision: `2024` → `2024`,
 * `20240315` → `2024-03-15`, `202403151230` → `2024-03-15T12:30:00+01:00`. A time with an offset keeps it; a time
 * without one is read in `timeZone` (the feed's), never silently as UTC. FHIR has no hour or minute precision: those
 * get `:00` seconds. Over-long fractions are cut to milliseconds; a value that is no date (or no real day) gives
 * undefined.
 */
export function v2Time(raw: string, timeZone: string): FhirTime | undefined {
  const m = DTM.exec(raw.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, off] = m;
  if (mo && (+mo < 1 || +mo > 12)) return undefined;
  if (d && !validDay(+y, +mo, +d)) return undefined;
  if (!h) return { value: [y, mo, d].filter(Boolean).join('-'), kind: 'date' };
  if (!d) return undefined;
  if (+h > 23 || (mi && +mi > 59) || (s && +s > 59)) return undefined;
  const ms = frac ? `.${frac.padEnd(3, '0').slice(0, 3)}` : '';
  const local = `${y}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${ms}`;
  const offset = off ? `${off.slice(0, 3)}:${off.slice(3)}` : zoneOffset(local, timeZone);
  return { value: `${local}${offset}`, kind: 'dateTime' };
}

/** FHIR `date` of a v2 value (a time's date part, as the sender wrote it). */
export function v2Date(raw: string): string | undefined {
  const t = v2Time(raw, 'UTC');
  return t?.value.slice(0, 10);
}

function validDay(y: number, m: number, d: number): boolean {
  if (d < 1) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** `+01:00`: the offset of `timeZone` at a wall-clock time there. */
function zoneOffset(local: string, timeZone: string): string {
  const wall = Date.parse(`${local.slice(0, 19)}Z`);
  const first = offsetMinutes(wall, timeZone);
  const minutes = offsetMinutes(wall - first * 60_000, timeZone);
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

function offsetMinutes(epochMs: number, timeZone: string): number {
  let format = offsetFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
    offsetFormats.set(timeZone, format);
  }
  const name = format.formatToParts(new Date(epochMs)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
}
