import { describe, expect, it } from 'vitest';
import { buildAck } from '../ack.ts';
import { v2Time } from '../map/dtm.ts';
import { splitPayload } from '../parse/batch.ts';
import { decodePayload } from '../parse/decode.ts';
import { V2Message, V2ParseError } from '../parse/message.ts';

describe('V2Message', () => {
  it('reads fields 1-based, unescapes, and never throws on what is absent', () => {
    const m = V2Message.parse(
      '\uFEFFMSH|^~\\&|APP|FAC|||20240101||ADT^A01|1|P|2.5\nPID|1||A\\F\\B^^^X&1.2&ISO~C||DOE^J\\S\\K||||||1 Main\\.br\\St\r\nZPD|custom|\\X41\\\\T\\x',
    );
    expect(m.header).toMatchObject({
      sendingApplication: 'APP',
      messageCode: 'ADT',
      triggerEvent: 'A01',
      version: '2.5',
    });
    const pid = m.segment('PID')!;
    expect(pid.get(3)).toBe('A|B');
    expect(pid.field(3).subs(4)).toEqual(['X', '1.2', 'ISO']);
    expect(pid.field(3, 2).get(1)).toBe('C');
    expect(pid.field(3, 7).get(5, 3)).toBe('');
    expect(pid.get(5, 2)).toBe('J^K');
    expect(pid.get(11)).toBe('1 Main\nSt');
    expect(m.segment('ZPD')!.get(2)).toBe('A&x'); // Z-segments are kept and reachable
    expect(m.segment('OBX')).toBeUndefined();
    expect(m.msh.get(2)).toBe('^~\\&');
  });

  it('takes v2.7 five-character encoding characters and continuation lines', () => {
    const m = V2Message.parse('MSH|^~\\&#|A|B|||2024||ORU^R01|1|P|2.7\rOBX|1|TX|X||line one\rline two');
    expect(m.delimiters.truncation).toBe('#');
    expect(m.segment('OBX')!.get(5)).toBe('line one\nline two');
  });

  it('refuses what is no message with a V2ParseError', () => {
    expect(() => V2Message.parse('PID|1')).toThrow(V2ParseError);
    expect(() => V2Message.parse('MSH|AB')).toThrow(V2ParseError);
    expect(() => V2Message.parse('MSH|^^^^')).toThrow(V2ParseError);
  });
});

describe('decoding and batches', () => {
  it('reads ISO-8859-1 by MSH-18, UTF-8 without it, and refuses bytes the named charset does not allow', () => {
    const latin = Buffer.from('MSH|^~\\&|A|B|||2024||ADT^A01|1|P|2.5||||||8859/1\rPID|1||1||MÜLLER', 'latin1');
    expect(decodePayload(latin)).toMatchObject({ charset: 'iso-8859-1' });
    expect(decodePayload(latin).text).toContain('MÜLLER');
    expect(decodePayload(Buffer.from('MSH|^~\\&|A|B|||2024||ADT^A01|1|P|2.5\rPID|1||1||Jürgen')).charset).toBe('utf-8');
    const bad = Buffer.concat([
      Buffer.from('MSH|^~\\&|A|B|||2024||ADT^A01|1|P|2.5||||||UNICODE UTF-8\rPID|'),
      Buffer.from([0xff]),
    ]);
    expect(() => decodePayload(bad)).toThrow(V2ParseError);
    expect(() => decodePayload(Buffer.from('MSH|^~\\&|A|B|||2024||ADT^A01|1|P|2.5||||||UNICODE UTF-16'))).toThrow(
      /does not read/,
    );
  });

  it('splits FHS/BHS batches into messages', () => {
    const split = splitPayload('FHS|^~\\&\nBHS|^~\\&\nMSH|^~\\&|A\nPID|1\nMSH|^~\\&|B\nBTS|2\nFTS|1');
    expect(split).toMatchObject({ batch: true, declaredCount: 2 });
    expect(split.messages).toEqual(['MSH|^~\\&|A\rPID|1', 'MSH|^~\\&|B']);
  });
});

describe('DTM to FHIR', () => {
  it('keeps precision and offset; a time without offset is read in the feed time zone, never as UTC', () => {
    expect(v2Time('2024', 'UTC')).toEqual({ value: '2024', kind: 'date' });
    expect(v2Time('20240315', 'UTC')).toEqual({ value: '2024-03-15', kind: 'date' });
    expect(v2Time('202403151230-0500', 'UTC')?.value).toBe('2024-03-15T12:30:00-05:00');
    expect(v2Time('20240715123000.12345', 'Europe/Paris')?.value).toBe('2024-07-15T12:30:00.123+02:00');
    expect(v2Time('20240115123000', 'Europe/Paris')?.value).toBe('2024-01-15T12:30:00+01:00');
    expect(v2Time('20240230', 'UTC')).toBeUndefined();
    expect(v2Time('not a date', 'UTC')).toBeUndefined();
  });
});

describe('ACKs', () => {
  it('swaps sender and receiver, echoes MSH-10 and names the error in ERR (ERR-1 before v2.5)', () => {
    const m = V2Message.parse('MSH|^~\\&|SEND|SFAC|RECV|RFAC|2024||ADT^A01|CTRL9|P|2.3');
    const ack = buildAck(m, 'AE', [
      { code: '101', diagnostics: 'PID-3 is | empty', location: { segment: 'PID', sequence: 1, field: 3 } },
    ]).split('\r');
    expect(ack[0].split('|').slice(2, 6)).toEqual(['RECV', 'RFAC', 'SEND', 'SFAC']);
    expect(ack[0].split('|')[8]).toBe('ACK^A01');
    expect(ack[1]).toBe('MSA|AE|CTRL9|PID-3 is \\F\\ empty');
    expect(ack[2]).toBe('ERR|PID^1^3^101&Required field missing&HL70357||||||PID-3 is \\F\\ empty');
  });
});
