import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Inbox } from '../../server/inbox/inbox.ts';
import type { InboxMessage } from '../../server/inbox/store.ts';
import { buildAck, type AckCode, type AckError } from './ack.ts';
import { ackErrors, outcomeAckErrors } from './errors.ts';
import { Feeds, type ResolvedFeed } from './feeds.ts';
import { mapsType } from './map/index.ts';
import type { Hl7v2Metrics } from './metrics.ts';
import type { OrderedQueue } from './ordered-queue.ts';
import { splitPayload } from './parse/batch.ts';
import { decodePayload } from './parse/decode.ts';
import { V2_ERROR, V2Message, V2ParseError } from './parse/message.ts';
import { DOOR, type Hl7v2Processor } from './processor.ts';

/** The content type of stored messages (and of `POST /hl7/v2`). */
export const ER7 = 'x-application/hl7-v2+er7';

/** An acknowledgment to send: its text and the charset to encode it in (the message's). */
export interface Reply {
  text: string;
  charset: string;
  code: AckCode;
}

/** How the caller wants replies: now (returned), and later ones (enhanced mode application ACKs) through `later`. */
export interface ReceiveOptions {
  /** `mllp` or `http`, for logs. */
  via: string;
  /** Sends an application ACK that comes after the commit ACK (enhanced mode); absent: they are returned instead. */
  later?: (reply: Reply) => void;
}

/**
 * The receiving half of the door, the same for MLLP frames and HTTP bodies: decode (MSH-18), split batches, parse,
 * check the feed accepts the type, store raw in the inbox (dedup on sending application + facility + MSH-10), then
 * acknowledge per MSH-15/16 and the feed's ACK timing, and queue the message for mapping in arrival order per
 * (sending facility, patient). Nothing is acknowledged AA/CA before its bytes are committed.
 */
export class Hl7v2Ingest {
  constructor(
    private readonly deps: {
      inbox: Inbox;
      feeds: Feeds;
      processor: Hl7v2Processor;
      queue: OrderedQueue;
      metrics: Hl7v2Metrics;
      logger: Logger;
    },
  ) {}

  /** Handles one payload (an MLLP frame, an HTTP body): one reply per message in it, in order. Never throws. */
  async receive(bytes: Buffer, options: ReceiveOptions): Promise<Reply[]> {
    const started = process.hrtime.bigint();
    let decoded;
    try {
      decoded = decodePayload(bytes);
    } catch (err) {
      // Undecodable in its charset: the NAK still echoes what the MSH says, read byte for byte.
      return [this.reject(lossyHeader(bytes), err, options, started)];
    }
    const split = splitPayload(decoded.text);
    if (split.messages.length === 0)
      return [this.reject(undefined, new V2ParseError('No MSH segment: not an HL7 v2 message'), options, started)];
    const single = split.messages.length === 1 && !split.batch;
    const replies: Reply[] = [];
    // A lone message is stored as received; the messages of a batch are re-encoded one by one (in UTF-8 unless they
    // were ISO-8859-1), and their stored content type says so.
    const storeAs = single || decoded.charset === 'iso-8859-1' ? decoded.charset : 'utf-8';
    for (const text of split.messages) {
      const payload = single ? bytes : encode(text, storeAs);
      replies.push(await this.receiveOne(text, { payload, charset: storeAs }, decoded.charset, options, started));
    }
    return replies;
  }

  private async receiveOne(
    text: string,
    stored: { payload: Buffer; charset: string },
    charset: string,
    options: ReceiveOptions,
    started: bigint,
  ): Promise<Reply> {
    let message: V2Message;
    try {
      message = V2Message.parse(text, charset);
    } catch (err) {
      return this.reject(undefined, err, options, started);
    }
    const h = message.header;
    const feed = this.deps.feeds.match(h.sendingApplication, h.sendingFacility);
    const enhanced = !!(h.acceptAckType || h.applicationAckType);
    const refuse = (code: string, diagnostics: string, field: number) =>
      this.reply(
        message,
        feed,
        enhanced ? 'CR' : 'AR',
        [{ code, diagnostics, location: { segment: 'MSH', sequence: 1, field } }],
        started,
        options,
      );
    if (!h.messageCode) return refuse(V2_ERROR.requiredFieldMissing, 'MSH-9 (message type) is empty', 9);
    if (!Feeds.accepts(feed, message.type, mapsType)) {
      const known = Feeds.accepts(feed, `${h.messageCode}^*`, (t) => mapsType(t));
      return refuse(
        known ? V2_ERROR.unsupportedEventCode : V2_ERROR.unsupportedMessageType,
        `Message type ${message.type} is not accepted on this feed`,
        9,
      );
    }
    let row: { message: InboxMessage; duplicate: boolean };
    try {
      row = await this.deps.inbox.receive(
        { door: DOOR, endpoint: feed.key },
        h.controlId ? `${h.sendingApplication}^${h.sendingFacility}^${h.controlId}` : undefined,
        stored.payload,
        `${ER7}; charset=${stored.charset}`,
      );
    } catch (err) {
      // Not stored: the sender must send it again (AE/CE: an error on our side, not in the message).
      this.deps.logger.error({ err, controlId: h.controlId, via: options.via }, 'hl7v2 message could not be stored');
      return this.reply(
        message,
        feed,
        enhanced ? 'CE' : 'AE',
        [{ code: V2_ERROR.internalError, diagnostics: 'The message could not be stored; send it again' }],
        started,
        options,
      );
    }
    this.deps.metrics.received(feed.key);
    const log = { inbox: row.message.id, controlId: h.controlId, type: message.type, feed: feed.key, via: options.via };
    if (row.duplicate) {
      this.deps.metrics.duplicate(feed.key);
      this.deps.logger.info(log, 'hl7v2 duplicate: acknowledged again, not processed again');
      return this.ackFromState(message, feed, row.message, enhanced, started, options);
    }
    this.deps.logger.info(log, 'hl7v2 message stored');
    const key = orderingKey(message);
    const processing = this.deps.queue.run(key, () => this.deps.processor.process(row.message.id));
    if (enhanced) {
      void processing.then((after) => {
        const code = after?.state === 'processed' ? 'AA' : after?.state === 'dead' ? 'AR' : 'AE';
        if (wants(h.applicationAckType, code === 'AA') && options.later)
          options.later(
            this.reply(message, feed, code, code === 'AA' ? [] : outcomeAckErrors(after?.error), started, options),
          );
      });
      return this.reply(message, feed, 'CA', [], started, options);
    }
    if (feed.ack === 'commit') {
      void processing.catch(() => {}); // recorded on the inbox row by the processor
      return this.reply(message, feed, 'AA', [], started, options);
    }
    const after = await processing.catch(() => undefined);
    return this.ackFromState(message, feed, after ?? row.message, false, started, options);
  }

  /** The ACK a stored message earns now: what a retransmission gets, and the synchronous (`mapped`) ACK. */
  private ackFromState(
    message: V2Message,
    feed: ResolvedFeed,
    row: InboxMessage,
    enhanced: boolean,
    started: bigint,
    options: ReceiveOptions,
  ): Reply {
    if (enhanced) return this.reply(message, feed, 'CA', [], started, options);
    // Stored and not failed: it was (or will be) acknowledged AA.
    if (row.state === 'processed' || row.state === 'received')
      return this.reply(message, feed, 'AA', [], started, options);
    return this.reply(message, feed, 'AE', outcomeAckErrors(row.error), started, options);
  }

  private reject(message: V2Message | undefined, err: unknown, options: ReceiveOptions, started: bigint): Reply {
    const errors: AckError[] =
      err instanceof V2ParseError
        ? [{ code: err.code, diagnostics: err.message, location: err.location }]
        : ackErrors(err);
    this.deps.logger.warn({ via: options.via, issue: errors[0]?.diagnostics }, 'hl7v2 message rejected');
    return this.reply(message, undefined, 'AR', errors, started, options);
  }

  private reply(
    message: V2Message | undefined,
    feed: ResolvedFeed | undefined,
    code: AckCode,
    errors: AckError[],
    started: bigint,
    _options: ReceiveOptions,
  ): Reply {
    const text = buildAck(message, code, errors);
    this.deps.metrics.ack(feed?.key ?? 'unknown', code, Number(process.hrtime.bigint() - started) / 1e9);
    return { text, charset: message?.charset ?? 'utf-8', code };
  }
}

/** The first message of the bytes read as ISO-8859-1 (every byte a character), for a NAK's header; undefined if none. */
function lossyHeader(bytes: Buffer): V2Message | undefined {
  try {
    const text = splitPayload(bytes.toString('latin1')).messages[0];
    return text ? V2Message.parse(text, 'iso-8859-1') : undefined;
  } catch {
    return undefined;
  }
}

/** Whether an enhanced-mode condition (MSH-15/16: AL, NE, ER, SU; empty: NE) asks for an ACK. */
function wants(condition: string, success: boolean): boolean {
  return condition === 'AL' || (condition === 'ER' && !success) || (condition === 'SU' && success);
}

/**
 * Messages with the same key are mapped in arrival order: sending facility and the patient's first identifier
 * (PID-3, or a hash of PID-5/PID-7 when it has none). Messages without a patient go by facility alone.
 */
export function orderingKey(message: V2Message): string {
  const pid = message.segment('PID');
  const facility = message.header.sendingFacility;
  if (!pid) return facility;
  const id = pid.field(3).get(1) || pid.field(2).get(1);
  if (id) return `${facility}|${id}|${pid.field(3).get(4)}`;
  return `${facility}|${createHash('sha1')
    .update(pid.rawField(5) + pid.rawField(7))
    .digest('hex')}`;
}

/** Encodes text in a charset for storage or sending (UTF-8 unless ISO-8859-1, the two Node can write). */
export function encode(text: string, charset: string): Buffer {
  return Buffer.from(text, charset === 'iso-8859-1' ? 'latin1' : 'utf8');
}
