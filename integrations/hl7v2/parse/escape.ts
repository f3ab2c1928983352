/** The five (v2.7+: six) delimiters of a message, from MSH-1 and MSH-2. */
export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** v2.7+ truncation character (MSH-2's fifth character), when given. */
  truncation?: string;
}

/**
 * Unescapes one leaf value (a component or subcomponent) per HL7 v2 section 2.7: `\F\ \S\ \T\ \R\ \E\` become their
 * delimiters, `\Xhh…\` the bytes it names (read as `charset`), `\.br\` and `\.sp\` a line break; highlighting (`\H\`,
 * `\N\`), character-set switches (`\C…\`, `\M…\`) and locally defined `\Z…\` sequences are dropped. An escape character
 * without its closing partner is kept as text (senders that never escape their backslashes).
 */
export function unescapeValue(value: string, d: Delimiters, charset = 'utf-8'): string {
  const e = d.escape;
  if (!e || !value.includes(e)) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const start = value.indexOf(e, i);
    if (start < 0) break;
    const end = value.indexOf(e, start + 1);
    if (end < 0) break;
    out += value.slice(i, start);
    out += replacement(value.slice(start + 1, end), d, charset) ?? value.slice(start, end + 1);
    i = end + 1;
  }
  return out + value.slice(i);
}

function replacement(seq: string, d: Delimiters, charset: string): string | undefined {
  switch (seq) {
    case 'F':
      return d.field;
    case 'S':
      return d.component;
    case 'T':
      return d.subcomponent;
    case 'R':
      return d.repetition;
    case 'E':
      return d.escape;
    case 'P':
      return d.truncation;
    case 'H':
    case 'N':
      return '';
    case '.br':
    case '.sp':
      return '\n';
  }
  if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) return decodeHex(seq.slice(1), charset);
  if (/^[CMZ]/.test(seq) || seq.startsWith('.')) return ''; // formatting and charset switches carry no text
  return undefined;
}

function decodeHex(hex: string, charset: string): string {
  const bytes = Buffer.from(hex, 'hex');
  try {
    return new TextDecoder(charset, { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

/** Escapes text for a field of an outgoing message (ACK text, ERR diagnostics): the inverse of `unescapeValue`. */
export function escapeValue(value: string, d: Delimiters): string {
  let out = '';
  for (const ch of value) {
    if (ch === d.escape) out += `${d.escape}E${d.escape}`;
    else if (ch === d.field) out += `${d.escape}F${d.escape}`;
    else if (ch === d.component) out += `${d.escape}S${d.escape}`;
    else if (ch === d.subcomponent) out += `${d.escape}T${d.escape}`;
    else if (ch === d.repetition) out += `${d.escape}R${d.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${d.escape}.br${d.escape}`;
    else if (ch < ' ') out += ' ';
    else out += ch;
  }
  return out;
}
