/** A payload split into its messages, with the batch envelope it came in (when it had one). */
export interface SplitPayload {
  messages: string[];
  /** True when the payload was a batch or file (FHS/BHS…BTS/FTS): its ACKs go back as a batch too. */
  batch: boolean;
  /** BTS-1 / FTS-1 message and batch counts as the sender declared them, when it did. */
  declaredCount?: number;
}

const ENVELOPE = new Set(['FHS', 'BHS', 'BTS', 'FTS']);

/**
 * Splits a payload (one message, several, or an HL7 batch file) into messages: each starts at an MSH line; FHS, BHS,
 * BTS and FTS lines are the envelope and are dropped; lines before the first MSH that are not envelope (bytes before
 * the message, comment lines of a file) are ignored. Segment ends may be CR, LF or CRLF.
 */
export function splitPayload(text: string): SplitPayload {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const messages: string[][] = [];
  let batch = false;
  let declaredCount: number | undefined;
  for (const line of lines) {
    const name = line.slice(0, 3);
    if (ENVELOPE.has(name)) {
      batch = true;
      if (name === 'BTS') declaredCount = Number.parseInt(line.split(line.charAt(3) || '|')[1] ?? '', 10) || undefined;
      continue;
    }
    if (name === 'MSH') messages.push([line]);
    else if (messages.length > 0 && line !== '') messages[messages.length - 1].push(line);
  }
  return { messages: messages.map((m) => m.join('\r')), batch, declaredCount };
}
