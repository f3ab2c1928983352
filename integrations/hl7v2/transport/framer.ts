/** MLLP block characters: start block (VT), end block (FS), then a carriage return. */
export const SB = 0x0b;
export const EB = 0x1c;
export const CR = 0x0d;

/** What the framer tells its connection. */
export interface FramerEvents {
  /** A complete frame's content (between SB and EB), as received. */
  frame(content: Buffer): void;
  /** A frame went over the size limit: its first bytes (for a NAK); the rest of it up to EB is discarded. */
  oversize(head: Buffer): void;
  /** Bytes that were not in any frame (before an SB, or a frame cut off by a new SB): how many. */
  discarded(bytes: number, why: 'before start block' | 'truncated frame'): void;
}

/** How many bytes of an oversize frame are kept to answer it (MSH is at the start). */
const HEAD_BYTES = 4096;

/**
 * MLLP framing (HL7 v2 Transport Specification: MLLP release 2, the block format): `<SB> message <EB><CR>`. Handles
 * several frames in one TCP chunk, one frame over many chunks, bytes before a start block (discarded, reported), a
 * frame cut off by a new start block (discarded, reported) and frames over `maxBytes` (reported, discarded up to
 * their end block, so the connection stays usable). A lone EB ends a frame too (the CR after it is optional, as many
 * senders forget it).
 *
 * Our own rather than `@medplum/hl7`'s connection: that one re-concatenates every chunk received so far on each new
 * chunk (quadratic on a 10 MB message), has no size limit, and decodes and parses before returning anything, whereas
 * this door must store the bytes exactly as received before it parses them, with the charset MSH-18 names.
 */
export class MllpFramer {
  private chunks: Buffer[] = [];
  private size = 0;
  private inFrame = false;
  private oversized = false;
  private skipCr = false;

  constructor(
    private readonly maxBytes: number,
    private readonly events: FramerEvents,
  ) {}

  /** Feeds received bytes. */
  push(data: Buffer): void {
    let pos = 0;
    if (this.skipCr && data.length > 0) {
      if (data[0] === CR) pos = 1;
      this.skipCr = false;
    }
    while (pos < data.length) {
      if (!this.inFrame) {
        const start = data.indexOf(SB, pos);
        if (start < 0) {
          this.events.discarded(data.length - pos, 'before start block');
          return;
        }
        if (start > pos) this.events.discarded(start - pos, 'before start block');
        this.beginFrame();
        pos = start + 1;
        continue;
      }
      const end = data.indexOf(EB, pos);
      const restart = data.indexOf(SB, pos);
      if (restart >= 0 && (end < 0 || restart < end)) {
        // A new start block before this frame's end: the sender gave up on it (a truncated frame).
        this.events.discarded(this.size + (restart - pos), 'truncated frame');
        this.beginFrame();
        pos = restart + 1;
        continue;
      }
      const stop = end < 0 ? data.length : end;
      this.append(data.subarray(pos, stop));
      if (end < 0) return;
      this.endFrame();
      pos = end + 1;
      if (pos < data.length && data[pos] === CR) pos++;
      else if (pos === data.length) this.skipCr = true;
    }
  }

  private beginFrame(): void {
    this.inFrame = true;
    this.oversized = false;
    this.chunks = [];
    this.size = 0;
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.oversized) return;
    if (this.size + bytes.length > this.maxBytes) {
      this.oversized = true;
      const head = Buffer.concat([...this.chunks, bytes]).subarray(0, HEAD_BYTES);
      this.chunks = [];
      this.size = 0;
      this.events.oversize(Buffer.from(head));
      return;
    }
    // Copy: the socket may reuse its buffer, and the frame outlives this chunk.
    this.chunks.push(Buffer.from(bytes));
    this.size += bytes.length;
  }

  private endFrame(): void {
    this.inFrame = false;
    if (this.oversized) return;
    const content = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    this.events.frame(content);
  }

  /** Bytes of an unfinished frame held right now (for back-pressure and idle checks). */
  get pendingBytes(): number {
    return this.size;
  }
}

/** Wraps a message in an MLLP block. */
export function mllpFrame(text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return Buffer.concat([Buffer.from([SB]), body, Buffer.from([EB, CR])]);
}
