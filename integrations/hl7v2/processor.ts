import type { Bundle } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { OutcomeError, toOutcomeError } from '../../server/fhir/outcomes.ts';
import type { Inbox } from '../../server/inbox/inbox.ts';
import { lockMessage, setProcessed, type InboxMessage, type StoredMessage } from '../../server/inbox/store.ts';
import type { JobRunner } from '../../server/jobs/runner.ts';
import type { FhirRouter } from '../../server/core/router.ts';
import type { AccessContext } from '../../server/core/types.ts';
import type { Repository } from '../../server/core/repository.ts';
import type { Feeds } from './feeds.ts';
import { mapMessage } from './map/index.ts';
import type { Hl7v2Metrics } from './metrics.ts';
import { V2Message } from './parse/message.ts';

/** The door's name in the inbox (and of its replay jobs). */
export const DOOR = 'hl7v2';
/** Job kind retrying messages whose processing failed for a transient reason (database away, conflict). */
const RETRY_KIND = 'hl7v2-retry';
const MAX_ATTEMPTS = 8;

/** The identity the door writes as: trusted in-process, recorded as the author of its Provenance. */
const DOOR_ACCESS: AccessContext = { kind: 'system', actor: 'Device/tributary-hl7v2', clientId: 'door:hl7v2' };

/** The charset a stored payload was received in (its content type's `charset` parameter). */
export function storedCharset(contentType: string | null): string {
  return /charset=([^;\s]+)/i.exec(contentType ?? '')?.[1] ?? 'utf-8';
}

/** Reads a stored payload back into a message. */
export function readStored(message: StoredMessage): V2Message {
  const charset = storedCharset(message.contentType);
  return V2Message.parse(new TextDecoder(charset).decode(message.payload), charset);
}

/**
 * Maps stored messages to FHIR and writes them: one transaction per message holding the mapped resources, the
 * MessageHeader, the raw message as a Binary, the Provenance — and the inbox row's `processed` state, so each message
 * is processed exactly once (the row is locked while it is). Failures are recorded on the row: mapping errors go to
 * the dead letter at once, transient ones are retried with backoff on the job runner.
 */
export class Hl7v2Processor {
  constructor(
    private readonly deps: {
      repo: Repository;
      router: FhirRouter;
      baseUrl: () => string;
      feeds: Feeds;
      inbox: Inbox;
      jobs: JobRunner;
      metrics: Hl7v2Metrics;
      logger: Logger;
    },
  ) {
    // Replays of the inbox (admin API, CLI) come through here; what is kept as the row's result is what was written.
    deps.inbox.registerDoor(DOOR, {
      process: async (m) => (await this.write(m.id))?.result,
      maxAttempts: MAX_ATTEMPTS,
    });
    deps.jobs.register<{ id: number }>(RETRY_KIND, {
      maxAttempts: MAX_ATTEMPTS,
      run: async (ctx) => {
        const after = await this.process(ctx.job.input.id);
        // Still failed: throw (transient) so that the runner tries again after its backoff.
        if (after?.state === 'failed') throw new OutcomeError(503, after.error ?? toOutcomeError('retry').outcome);
      },
    });
  }

  /** Processes one stored message and records the outcome; returns the row afterwards. Never throws for input. */
  async process(id: number): Promise<InboxMessage | undefined> {
    try {
      return await this.write(id);
    } catch (err) {
      const error = toOutcomeError(err);
      const permanent = error.status < 500 && ![408, 409, 429].includes(error.status);
      const after = await this.deps.inbox.markFailed(id, error.outcome, { permanent });
      const feed = after?.endpoint ?? '?';
      this.deps.metrics.failed(feed, after?.state === 'dead');
      this.deps.logger.warn(
        { inbox: id, feed, controlId: after?.dedupKey, state: after?.state, issue: error.message },
        'hl7v2 message not mapped',
      );
      if (after?.state === 'failed') await this.deps.jobs.enqueue(RETRY_KIND, { id });
      return after;
    }
  }

  /** Maps the message and writes it with its `processed` state in one transaction (nothing if already processed). */
  private async write(id: number): Promise<InboxMessage | undefined> {
    return this.deps.repo.transaction(async (repo) => {
      const stored = await lockMessage(repo.queryable, id);
      if (!stored || stored.state === 'processed' || stored.state === 'dead') return stored;
      const message = readStored(stored);
      const header = message.header;
      const feed = this.deps.feeds.match(header.sendingApplication, header.sendingFacility);
      const bundle: Bundle = await mapMessage(message, {
        feed,
        raw: stored.payload,
        key: `${stored.endpoint}|${stored.dedupKey}`,
      });
      const ctx = { repo, baseUrl: this.deps.baseUrl(), requestId: `hl7v2-${id}`, access: DOOR_ACCESS };
      const res = await this.deps.router.handle(ctx, {
        method: 'POST',
        path: '',
        query: {},
        body: bundle,
        headers: { preferReturn: 'minimal' },
      });
      const written = ((res.resource as Bundle | undefined)?.entry ?? [])
        .map((e) => e.response?.location)
        .filter(Boolean);
      const after = await setProcessed(repo.queryable, id, { written });
      this.deps.metrics.mapped(stored.endpoint);
      this.deps.logger.debug({ inbox: id, controlId: header.controlId, type: message.type }, 'hl7v2 message mapped');
      return after;
    });
  }
}
