import { randomBytes } from 'node:crypto';
import { escapeValue, type Delimiters } from './parse/escape.ts';
import type { V2Location, V2Message } from './parse/message.ts';

/** Acknowledgment codes (HL7 table 0008): original mode A*, enhanced mode commit C*. */
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

/** One error an ACK reports in an ERR segment. */
export interface AckError {
  /** HL7 table 0357 code (`101` required field missing, `200` unsupported message type, `207` internal error…). */
  code: string;
  /** What went wrong, for a person (ERR-7 diagnostic information). */
  diagnostics: string;
  location?: V2Location;
  /** ERR-4 (table 0516): E error, W warning, I information. */
  severity?: 'E' | 'W' | 'I';
}

const DEFAULT_DELIMITERS: Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

/** Table 0357's names of the codes, for ERR-3.2. */
const ERROR_TEXT: Record<string, string> = {
  '0': 'Message accepted',
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier',
  '206': 'Application record locked',
  '207': 'Application internal error',
};

let counter = 0;

/** A fresh MSH-10 for a message this server sends: time, a counter and randomness, at most 20 characters (ST). */
export function newControlId(): string {
  counter = (counter + 1) % 1296;
  return `T${Date.now().toString(36)}${counter.toString(36).padStart(2, '0')}${randomBytes(3).toString('hex')}`;
}

/** An HL7 timestamp (DTM) with milliseconds and the server's offset: `20261207123456.789+0100`. */
export function hl7Now(now = new Date()): string {
  const p = (n: number, w = 2) => String(Math.trunc(Math.abs(n))).padStart(w, '0');
  const offset = -now.getTimezoneOffset();
  return (
    `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}${p(now.getHours())}${p(now.getMinutes())}` +
    `${p(now.getSeconds())}.${p(now.getMilliseconds(), 3)}${offset < 0 ? '-' : '+'}${p(offset / 60)}${p(offset % 60)}`
  );
}

/** True when an HL7 version string (`2.3.1`, `2.5`, `2.999`) is at least `major.minor`. */
function versionAtLeast(version: string, minor: number): boolean {
  const [major, min] = version.split('.').map((n) => Number.parseInt(n, 10));
  return major > 2 || (major === 2 && (min || 0) >= minor);
}

/**
 * Builds an acknowledgment of `message`: MSH with sender and receiver swapped (MSH-3/4 ↔ MSH-5/6), `ACK^<trigger>^ACK`,
 * a fresh control id, the original's processing id, version and character set; MSA with the code and the original
 * MSH-10; one ERR per error (v2.5+: ERR-2 location, ERR-3 code from table 0357, ERR-4 severity, ERR-7 diagnostics;
 * before v2.5: ERR-1). Without a readable message (no MSH), the ACK names nobody and acknowledges no control id.
 */
export function buildAck(message: V2Message | undefined, code: AckCode, errors: AckError[] = []): string {
  const d = message?.delimiters ?? DEFAULT_DELIMITERS;
  const msh = message?.msh;
  const raw = (n: number) => msh?.rawField(n) ?? '';
  const version = raw(12) ? msh!.get(12) : '2.5.1';
  const trigger = msh?.get(9, 2);
  const f = d.field;
  const encoding = [d.component, d.repetition, d.escape, d.subcomponent, d.truncation ?? ''].join('');
  const type = [
    'ACK',
    trigger ? escapeValue(trigger, d) : '',
    msh?.get(9, 3) || versionAtLeast(version, 4) ? 'ACK' : '',
  ];
  const header = [
    `MSH${f}${encoding}`,
    raw(5) || 'TRIBUTARY',
    raw(6),
    raw(3),
    raw(4),
    hl7Now(),
    '',
    type.join(d.component).replace(new RegExp(`[${escapeRegExp(d.component)}]+$`), ''),
    newControlId(),
    raw(11) || 'P',
    raw(12) || version,
    '',
    '',
    '',
    '',
    '',
    raw(18),
  ];
  const text = errors[0] ? escapeValue(errors[0].diagnostics.slice(0, 80), d) : '';
  const segments = [
    trimFields(header, f),
    trimFields(['MSA', code, raw(10), code.endsWith('A') ? '' : text], f),
    ...errors.map((e) => errSegment(e, d, version)),
  ];
  return segments.join('\r');
}

function errSegment(e: AckError, d: Delimiters, version: string): string {
  const c = d.component;
  const loc = e.location;
  const diagnostics = escapeValue(e.diagnostics, d);
  if (!versionAtLeast(version, 5)) {
    // ERR-1 (ELD): segment^sequence^field^code&text&HL70357
    const eld = [
      loc?.segment ?? '',
      loc?.sequence ?? '',
      loc?.field ?? '',
      [e.code, ERROR_TEXT[e.code] ?? '', 'HL70357'].join(d.subcomponent),
    ];
    return trimFields(['ERR', eld.join(c), '', '', '', '', '', diagnostics], d.field);
  }
  const erl = loc
    ? [loc.segment, loc.sequence ?? 1, loc.field ?? '', loc.field ? (loc.repetition ?? 1) : '', loc.component ?? '']
        .join(c)
        .replace(new RegExp(`[${escapeRegExp(c)}]+$`), '')
    : '';
  const hl7Code = [e.code, ERROR_TEXT[e.code] ?? '', 'HL70357'].join(c);
  return trimFields(['ERR', '', erl, hl7Code, e.severity ?? 'E', '', '', diagnostics], d.field);
}

function trimFields(fields: string[], sep: string): string {
  let end = fields.length;
  while (end > 1 && fields[end - 1] === '') end--;
  return fields.slice(0, end).join(sep);
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&');
}

/** Wraps ACKs of a batch in BHS … BTS (with the count), as a batch file's acknowledgment. */
export function batchOfAcks(acks: string[]): string {
  return ['BHS|^~\\&|TRIBUTARY||||' + hl7Now(), ...acks, `BTS|${acks.length}`].join('\r');
}
