import { Hl7Context, Hl7Message, type Hl7Segment } from '@medplum/core';
import { unescapeValue, type Delimiters } from './escape.ts';

/** Where a problem is in a message, as an ERR segment names it (ERR-2, type ERL). 1-based. */
export interface V2Location {
  segment: string;
  /** Which occurrence of the segment (1 = first). */
  sequence?: number;
  field?: number;
  repetition?: number;
  component?: number;
}

/** HL7 table 0357 message error condition codes the door uses. */
export const V2_ERROR = {
  segmentSequence: '100',
  requiredFieldMissing: '101',
  dataType: '102',
  tableValueNotFound: '103',
  unsupportedMessageType: '200',
  unsupportedEventCode: '201',
  unsupportedProcessingId: '202',
  unsupportedVersion: '203',
  unknownKey: '204',
  duplicateKey: '205',
  recordLocked: '206',
  internalError: '207',
} as const;

/** A message that cannot be read at all (no MSH, bad delimiters, a segment that is not one): rejected with AR. */
export class V2ParseError extends Error {
  constructor(
    message: string,
    readonly code: string = V2_ERROR.segmentSequence,
    readonly location: V2Location = { segment: 'MSH' },
  ) {
    super(message);
    this.name = 'V2ParseError';
  }
}

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;
/** Delimiters that split nothing: for MSH-1 and MSH-2. */
const LITERAL: Delimiters = {
  field: '\u0000',
  component: '\u0000',
  repetition: '\u0000',
  escape: '',
  subcomponent: '\u0000',
};

/**
 * One repetition of a field: components and subcomponents by 1-based position, unescaped. Never throws: a component
 * that is not there is the empty string.
 */
export class V2Field {
  constructor(
    /** The repetition's text as received (still escaped). */
    readonly raw: string,
    private readonly d: Delimiters,
    private readonly charset: string,
  ) {}

  /** Component `c` (subcomponent `s` of it), unescaped, without surrounding blanks; `''` when absent. */
  get(c = 1, s = 1): string {
    const component = this.raw.split(this.d.component)[c - 1] ?? '';
    const sub = component.split(this.d.subcomponent)[s - 1] ?? '';
    return unescapeValue(sub, this.d, this.charset).trim();
  }

  /** All subcomponents of component `c`. */
  subs(c: number): string[] {
    const component = this.raw.split(this.d.component)[c - 1] ?? '';
    return component.split(this.d.subcomponent).map((s) => unescapeValue(s, this.d, this.charset).trim());
  }

  /** True when the repetition holds nothing (HL7's `""` null counts as a value). */
  get empty(): boolean {
    return (
      this.raw === '' || this.raw.split(this.d.component).every((c) => c.split(this.d.subcomponent).join('') === '')
    );
  }

  /** The whole repetition unescaped, components joined by the component separator (for text and logs). */
  get text(): string {
    return unescapeValue(this.raw, this.d, this.charset);
  }
}

/** One segment of a message: fields by their HL7 number (MSH-1 is the field separator, as in the standard). */
export class V2Segment {
  constructor(
    private readonly segment: Hl7Segment,
    private readonly d: Delimiters,
    private readonly charset: string,
    /** Which occurrence of its name in the message (1 = first), for ERR locations. */
    readonly sequence: number,
  ) {}

  get name(): string {
    return this.segment.name;
  }

  /** Every repetition of field `n` (an empty field has none). */
  reps(n: number): V2Field[] {
    const raw = this.rawField(n);
    if (raw === '') return [];
    // MSH-1 and MSH-2 are the delimiters themselves: one value, nothing to split or unescape.
    if (this.name === 'MSH' && n <= 2) return [new V2Field(raw, LITERAL, this.charset)];
    return raw.split(this.d.repetition).map((r) => new V2Field(r, this.d, this.charset));
  }

  /** Repetition `r` of field `n`; an empty field when absent. */
  field(n: number, r = 1): V2Field {
    return this.reps(n)[r - 1] ?? new V2Field('', this.d, this.charset);
  }

  /** Shortcut: component `c` (subcomponent `s`) of the first repetition of field `n`, unescaped. */
  get(n: number, c = 1, s = 1): string {
    return this.field(n).get(c, s);
  }

  /** Field `n` as received (escaped, repetitions included); `''` when absent. */
  rawField(n: number): string {
    if (this.name === 'MSH' && n === 1) return this.d.field;
    if (this.name === 'MSH' && n === 2)
      return [this.d.component, this.d.repetition, this.d.escape, this.d.subcomponent, this.d.truncation ?? '']
        .join('')
        .replace(/\u0000/g, '');
    // Hl7Segment numbers MSH fields as the standard does (MSH-3 is the sending application).
    return this.segment.getField(n)?.toString() ?? '';
  }
}

/** What MSH says about a message. */
export interface V2Header {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-7 as received. */
  dateTime: string;
  messageCode: string;
  triggerEvent: string;
  structure: string;
  controlId: string;
  processingId: string;
  version: string;
  /** MSH-15 and MSH-16 (AL, NE, ER, SU; empty: original acknowledgment mode). */
  acceptAckType: string;
  applicationAckType: string;
  /** MSH-18 first repetition. */
  characterSet: string;
}

/**
 * A parsed HL7 v2 message: `@medplum/core`'s Hl7Message (lazy splitting) behind an accessor that counts from 1
 * everywhere, unescapes leaf values and never throws on a missing segment, field, repetition or component.
 * Segment ends may be CR, LF or CRLF; a UTF-8 BOM and blank lines are ignored; a line that is not a segment
 * continues the one before it (multi-line OBX text as some senders write it), joined with a line break.
 */
export class V2Message {
  readonly delimiters: Delimiters;
  readonly segments: V2Segment[];
  private readonly byName = new Map<string, V2Segment[]>();

  private constructor(
    readonly text: string,
    lines: string[],
    delimiters: Delimiters,
    readonly charset: string,
  ) {
    this.delimiters = delimiters;
    const context = new Hl7Context(
      '\r',
      delimiters.field,
      delimiters.component,
      delimiters.repetition,
      delimiters.escape,
      delimiters.subcomponent,
    );
    const hl7 = new Hl7Message(lines, context);
    this.segments = hl7.segments.map((s) => {
      const list = this.byName.get(s.name) ?? [];
      const seg = new V2Segment(s, delimiters, charset, list.length + 1);
      list.push(seg);
      this.byName.set(s.name, list);
      return seg;
    });
  }

  /**
   * Parses one message (text already decoded). Throws V2ParseError when it has no MSH first, its delimiters are
   * unusable, or a line in it is not a segment and has none before it to continue.
   */
  static parse(text: string, charset = 'utf-8'): V2Message {
    const body = text.replace(/^\uFEFF/, '').replace(/^[\r\n\s]+/, '');
    if (!body.startsWith('MSH')) throw new V2ParseError('The message does not start with an MSH segment');
    const field = body.charAt(3);
    const encoding = body.slice(4, body.indexOf(field, 4) < 0 ? 8 : body.indexOf(field, 4));
    if (!field || /[A-Za-z0-9\s]/.test(field) || encoding.length < 2 || encoding.length > 5)
      throw new V2ParseError('MSH-1/MSH-2 do not give usable delimiters', V2_ERROR.dataType, {
        segment: 'MSH',
        sequence: 1,
        field: 2,
      });
    // `^~\\&` (an escaped backslash from a source-code string) is common in samples: a repeated character counts once.
    const unique = [...new Set(encoding)].join('');
    const chars = [field, ...unique];
    if (unique.length < 2 || chars.includes(field, 1) || chars.some((c) => /[A-Za-z0-9\s]/.test(c)))
      throw new V2ParseError('MSH-2 repeats a delimiter or uses a letter, digit or space', V2_ERROR.dataType, {
        segment: 'MSH',
        sequence: 1,
        field: 2,
      });
    const delimiters: Delimiters = {
      field,
      component: unique[0],
      repetition: unique[1],
      escape: unique[2] ?? '',
      subcomponent: unique[3] ?? '\u0000',
      truncation: unique[4],
    };
    const lines: string[] = [];
    for (const line of body.split(/\r\n|\r|\n/)) {
      if (line.trim() === '') continue;
      const name = line.slice(0, 3);
      const isSegment = SEGMENT_NAME.test(name) && (line.length === 3 || line.charAt(3) === field);
      if (isSegment) lines.push(line);
      else
        lines[lines.length - 1] += `${delimiters.escape ? `${delimiters.escape}.br${delimiters.escape}` : ' '}${line}`;
    }
    return new V2Message(body, lines, delimiters, charset);
  }

  /** The first segment of a name (MSH is always there). */
  segment(name: string): V2Segment | undefined {
    return this.byName.get(name)?.[0];
  }

  /** Every segment of a name, in order. */
  all(name: string): V2Segment[] {
    return this.byName.get(name) ?? [];
  }

  get msh(): V2Segment {
    return this.segments[0];
  }

  /** MSH fields by name. */
  get header(): V2Header {
    const m = this.msh;
    return {
      sendingApplication: m.get(3),
      sendingFacility: m.get(4),
      receivingApplication: m.get(5),
      receivingFacility: m.get(6),
      dateTime: m.get(7),
      messageCode: m.get(9, 1).toUpperCase(),
      triggerEvent: m.get(9, 2).toUpperCase(),
      structure: m.get(9, 3).toUpperCase(),
      controlId: m.get(10),
      processingId: m.get(11),
      version: m.get(12),
      acceptAckType: m.get(15).toUpperCase(),
      applicationAckType: m.get(16).toUpperCase(),
      characterSet: m.get(18),
    };
  }

  /** `ADT^A01`: message code and trigger event. */
  get type(): string {
    const h = this.header;
    return h.triggerEvent ? `${h.messageCode}^${h.triggerEvent}` : h.messageCode;
  }

  /**
   * Segments grouped under each occurrence of `head` (e.g. OBR with its OBX, NTE…), up to the next `head` or one of
   * `stop`. Segments before the first `head` are not in any group.
   */
  groups(head: string, stop: string[] = []): { head: V2Segment; members: V2Segment[] }[] {
    const out: { head: V2Segment; members: V2Segment[] }[] = [];
    let current: { head: V2Segment; members: V2Segment[] } | undefined;
    for (const seg of this.segments) {
      if (seg.name === head) out.push((current = { head: seg, members: [] }));
      else if (stop.includes(seg.name)) current = undefined;
      else current?.members.push(seg);
    }
    return out;
  }
}
