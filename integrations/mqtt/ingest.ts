import type { Logger } from 'pino';
import { outcome } from '../../server/fhir/outcomes.ts';
import type { Inbox } from '../../server/inbox/inbox.ts';
import { messageIdOf } from './map/index.ts';
import type { MqttMetrics } from './metrics.ts';
import { DOOR, type MqttProcessor } from './processor.ts';
import type { DeviceTopics } from './topics.ts';

/** The content type of stored payloads (what the bytes are is decided when they are mapped). */
const CONTENT_TYPE = 'application/octet-stream';

/**
 * The receiving half of the door, the same for the embedded broker and the external one: store the PUBLISH raw in
 * the inbox (dedup key: the message's `msgId`/Open mHealth header id, else the payload's SHA-256; source: the topic),
 * return — the caller sends the PUBACK only then — and queue the message for mapping. A publish the topic rules
 * refuse, or one over the size limit, is dead-lettered (under `refused/{clientId}`) and reported on the device's
 * `…/ack`; it is acknowledged so that the device does not resend it forever. Throws only when the message could not
 * be made durable (the database is away): then no PUBACK goes out and the device resends.
 */
export class MqttIngest {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly deps: {
      inbox: Inbox;
      processor: MqttProcessor;
      metrics: MqttMetrics;
      logger: Logger;
      maxBytes: number;
      concurrency: number;
      topics: DeviceTopics;
    },
  ) {}

  /** Stores one PUBLISH from `publisher` (the authenticated client id; undefined: the external broker vouched). */
  async receive(publisher: string | undefined, topic: string, payload: Buffer): Promise<void> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    if (payload.length > this.deps.maxBytes) {
      await this.refuse(
        publisher,
        topic,
        payload,
        `The payload has ${payload.length} bytes; at most ${this.deps.maxBytes} are accepted`,
      );
      return this.deps.metrics.received('oversize', seconds());
    }
    const topics = this.deps.topics;
    const allowed = publisher === undefined ? topics.parse(topic) !== undefined : topics.mayPublish(publisher, topic);
    if (!allowed) {
      const shown = topic.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 300);
      await this.refuse(publisher, topic, payload, `Device ${publisher ?? '(external)'} may not publish to ${shown}`);
      return this.deps.metrics.received('refused', seconds());
    }
    const { message, duplicate } = await this.deps.inbox.receive(
      { door: DOOR, endpoint: topic },
      messageIdOf(payload),
      payload,
      CONTENT_TYPE,
    );
    this.deps.metrics.received(duplicate ? 'duplicate' : 'stored', seconds());
    // A resend of a message already processed learns its outcome again; one still being processed waits for it.
    if (duplicate && (message.state === 'processed' || message.state === 'dead')) this.deps.processor.report(message);
    else if (!duplicate || message.state === 'failed') this.schedule(message.id);
  }

  /** Maps a stored message soon, at most `concurrency` at once. */
  schedule(id: number): void {
    const run = () => {
      this.running++;
      void this.deps.processor.process(id).finally(() => {
        this.running--;
        this.waiting.shift()?.();
      });
    };
    if (this.running < this.deps.concurrency) run();
    else this.waiting.push(run);
  }

  /** Messages waiting for a free processing slot. */
  get backlog(): number {
    return this.waiting.length;
  }

  /** Dead-letters what cannot be taken, with its reason, and tells the publisher. */
  private async refuse(publisher: string | undefined, topic: string, payload: Buffer, reason: string): Promise<void> {
    const kept = payload.length > this.deps.maxBytes ? payload.subarray(0, 1024) : payload;
    const { message } = await this.deps.inbox.receive(
      { door: DOOR, endpoint: `refused/${publisher ?? 'external'}` },
      undefined,
      Buffer.concat([Buffer.from(`${topic}\n`), kept]),
      CONTENT_TYPE,
    );
    const after = await this.deps.inbox.markFailed(message.id, outcome('error', 'security', reason), {
      permanent: true,
    });
    this.deps.logger.warn({ publisher, topic, inbox: message.id }, `mqtt publish refused: ${reason}`);
    if (after && publisher) this.deps.processor.report(after, messageIdOf(kept));
  }
}
