import { V2_ERROR, V2ParseError } from './message.ts';

/** MSH-18 values (HL7 table 0211) and the TextDecoder label each is read with. */
const CHARSETS: Record<string, string> = {
  ASCII: 'utf-8', // ASCII is a subset; senders that say ASCII and send UTF-8 are common (see below)
  '8859/1': 'iso-8859-1',
  '8859/2': 'iso-8859-2',
  '8859/3': 'iso-8859-3',
  '8859/4': 'iso-8859-4',
  '8859/5': 'iso-8859-5',
  '8859/6': 'iso-8859-6',
  '8859/7': 'iso-8859-7',
  '8859/8': 'iso-8859-8',
  '8859/9': 'iso-8859-9',
  '8859/15': 'iso-8859-15',
  'UNICODE UTF-8': 'utf-8',
  'UTF-8': 'utf-8',
  'ISO IR6': 'utf-8',
  'ISO IR100': 'iso-8859-1',
  'ISO IR192': 'utf-8',
  'BIG-5': 'big5',
  'GB 18030-2000': 'gb18030',
  'ISO IR87': 'iso-2022-jp',
  'KS X 1001': 'euc-kr',
};

/** A message's text and the character set it was read with. */
export interface DecodedPayload {
  text: string;
  /** The TextDecoder label used (`utf-8`, `iso-8859-1`, …). */
  charset: string;
}

/**
 * Turns received bytes into text using the character set MSH-18 names. Without MSH-18 the bytes are read as UTF-8
 * and, when they are not valid UTF-8, as ISO-8859-1 (what older feeds without MSH-18 send). A charset we do not know
 * (e.g. UTF-16, which MLLP cannot frame) is rejected (103 at MSH-18); so are bytes that are not valid in the charset
 * MSH-18 names (102 at MSH-18): the message would otherwise be stored with characters it never had.
 */
export function decodePayload(bytes: Buffer): DecodedPayload {
  const declared = declaredCharset(bytes);
  if (declared === undefined || declared === '') {
    try {
      return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), charset: 'utf-8' };
    } catch {
      return { text: bytes.toString('latin1'), charset: 'iso-8859-1' };
    }
  }
  const label = CHARSETS[declared.toUpperCase()];
  const location = { segment: 'MSH', sequence: 1, field: 18 };
  if (!label)
    throw new V2ParseError(
      `MSH-18 names a character set this server does not read: ${declared}`,
      V2_ERROR.tableValueNotFound,
      location,
    );
  try {
    return { text: new TextDecoder(label, { fatal: true }).decode(bytes), charset: label };
  } catch {
    throw new V2ParseError(`The message's bytes are not valid ${declared} (MSH-18)`, V2_ERROR.dataType, location);
  }
}

/** MSH-18 (first repetition, first component) of the first MSH in the bytes, read without decoding. */
function declaredCharset(bytes: Buffer): string | undefined {
  const latin = bytes.subarray(0, 4096).toString('latin1');
  const at = latin.search(/(^|[\r\n])MSH/);
  if (at < 0) return undefined;
  const start = latin.indexOf('MSH', at);
  const line = latin.slice(start).split(/[\r\n]/)[0];
  const sep = line.charAt(3);
  if (!sep) return undefined;
  const fields = line.split(sep);
  const msh18 = fields[17];
  if (msh18 === undefined) return undefined;
  const component = line.charAt(4) || '^';
  const repetition = line.charAt(5) || '~';
  return msh18.split(repetition)[0].split(component)[0].trim();
}
