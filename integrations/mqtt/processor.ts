import type { Bundle, BundleEntry, Device, Observation } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { InProcessClient, ClientIdentity } from '../../server/core/client.ts';
import type { Repository } from '../../server/core/repository.ts';
import type { AccessContext } from '../../server/core/types.ts';
import { OutcomeError, outcomeError, toOutcomeError } from '../../server/fhir/outcomes.ts';
import type { Inbox } from '../../server/inbox/inbox.ts';
import type { InboxMessage, StoredMessage } from '../../server/inbox/store.ts';
import type { JobRunner } from '../../server/jobs/runner.ts';
import { RejectedPayload, readMessage } from './map/index.ts';
import { readStatus } from './map/status.ts';
import type { MqttMetrics } from './metrics.ts';
import type { DeviceTopics } from './topics.ts';

/** The door's name in the inbox (and of its replay jobs). */
export const DOOR = 'mqtt';
/** Job kind retrying messages whose processing failed for a transient reason (database away, conflict). */
const RETRY_KIND = 'mqtt-retry';
const MAX_ATTEMPTS = 8;

/** What a device is told on its `…/ack` topic about one message. */
export type AckBody =
  { msgId: string; status: 'stored'; observations: string[] } | { msgId: string; status: 'rejected'; errors: string[] };

/** What the processor needs of the running server. */
export interface ProcessorDeps {
  repo: Repository;
  inbox: Inbox;
  jobs: JobRunner;
  client(access: AccessContext, identity?: ClientIdentity): InProcessClient;
  metrics: MqttMetrics;
  logger: Logger;
  /** Tells the device the outcome of a message (its `…/ack` topic). */
  ack(deviceId: string, body: AckBody): void;
  topics: DeviceTopics;
}

/** A message that can never be stored (schema, unknown code, unit, patient): 422, dead-lettered at once. */
function rejected(errors: string[]): OutcomeError {
  return outcomeError(
    422,
    // Reasons may quote the input: control characters go (NUL cannot be stored), length is bounded.
    errors.slice(0, 20).map((e) => ({
      severity: 'error',
      code: 'processing',
      diagnostics: e.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 500),
    })),
  );
}

/**
 * Maps stored device messages to FHIR: reads the publishing Device and its patient, maps the payload to
 * Observations (or a Device update for `…/status`) and writes them in one transaction through the in-process client
 * acting as the Device, so each message gets one Provenance naming it. Conditional creates on the reading identifier
 * make a replay change nothing. Outcomes are recorded on the inbox row and told to the device.
 */
export class MqttProcessor {
  constructor(private readonly deps: ProcessorDeps) {
    deps.inbox.registerDoor(DOOR, { process: (m) => this.write(m), maxAttempts: MAX_ATTEMPTS });
    deps.jobs.register<{ id: number }>(RETRY_KIND, {
      maxAttempts: MAX_ATTEMPTS,
      run: async (ctx) => {
        // The runner retries this job after its backoff: no new job from here.
        const after = await this.process(ctx.job.input.id, false);
        if (after?.state === 'failed') throw new OutcomeError(503, after.error ?? toOutcomeError('retry').outcome);
      },
    });
  }

  /**
   * Processes one stored message, records and reports its outcome; returns the row afterwards. Never throws. A
   * transient failure queues a retry job (unless `retry` is false: the retry job itself).
   */
  async process(id: number, retry = true): Promise<InboxMessage | undefined> {
    const started = performance.now();
    let after: InboxMessage | undefined;
    try {
      after = await this.deps.inbox.process(id);
    } catch (err) {
      this.deps.logger.error({ err, inbox: id }, 'mqtt message processing failed');
      return undefined;
    }
    if (!after) return after;
    this.deps.metrics.processed(after.state, (performance.now() - started) / 1000);
    this.report(after);
    if (after.state === 'failed' && retry) await this.deps.jobs.enqueue(RETRY_KIND, { id }).catch(() => {});
    return after;
  }

  /** Tells the device what became of a processed or dead message (nothing while it may still be retried). */
  report(message: InboxMessage, msgId = message.dedupKey): void {
    const deviceId = this.deps.topics.parse(message.endpoint)?.deviceId ?? refusedDevice(message.endpoint);
    if (!deviceId) return;
    if (message.state === 'processed') {
      const result = message.result as { msgId: string; observations: string[] };
      this.deps.ack(deviceId, { msgId: result.msgId, status: 'stored', observations: result.observations });
    } else if (message.state === 'dead') {
      const errors = (message.error?.issue ?? []).map((i) => i.diagnostics ?? i.code);
      this.deps.ack(deviceId, { msgId, status: 'rejected', errors });
    }
  }

  /** Maps and writes one message; what it returns is kept as the row's result. */
  private async write(stored: StoredMessage): Promise<{ msgId: string; observations: string[] }> {
    const topic = this.deps.topics.parse(stored.endpoint);
    if (!topic) throw rejected([`Topic ${stored.endpoint} is not one a device may publish to`]);
    try {
      const device = await this.device(topic.deviceId);
      const client = this.deps.client(
        { kind: 'device', actor: `Device/${device.id}`, clientId: `mqtt:${device.id}` },
        {
          agent: { reference: `Device/${device.id}` },
          source: { identifier: { system: 'urn:tributary:inbox', value: String(stored.id) }, display: stored.endpoint },
        },
      );
      if (topic.kind === 'status') {
        const updated = readStatus(parseStatusPayload(stored.payload), device);
        await client.update(updated as Device & { id: string });
        return { msgId: stored.dedupKey, observations: [] };
      }
      const message = readMessage(stored.payload, topic, stored.createdAt);
      const patient = await this.patientOf(device, message.namedPatient);
      const observations = message.observations(patient);
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: observations.map((o): BundleEntry<Observation> => ({
          resource: o.resource,
          request: { method: 'POST', url: 'Observation', ifNoneExist: o.ifNoneExist },
        })),
      };
      const response = await client.bundle(bundle);
      const ids = (response.entry ?? []).map(
        (e) => /^Observation\/([^/]+)/.exec(e.response?.location ?? '')?.[1] ?? '',
      );
      return { msgId: message.msgId, observations: ids.filter(Boolean) };
    } catch (err) {
      if (err instanceof RejectedPayload) throw rejected(err.errors);
      throw err;
    }
  }

  /** The publishing Device (it must exist: credentials are issued for Devices only, and it may have been deleted). */
  private async device(id: string): Promise<Device> {
    const stored = await this.deps.repo.readCurrent('Device', id);
    if (!stored?.content || stored.deleted) throw new RejectedPayload([`Device/${id} does not exist`]);
    return JSON.parse(stored.content) as Device;
  }

  /**
   * The patient of a reading: the Device's association (`Device.patient`). A reading that names a patient
   * (`Patient/<id>` or an identifier `system|value`) must name that same patient.
   */
  private async patientOf(device: Device, named: string | undefined): Promise<string> {
    const associated = device.patient?.reference;
    if (!associated?.startsWith('Patient/'))
      throw new RejectedPayload([`Device/${device.id} is not associated with a patient (Device.patient)`]);
    if (named === undefined || named === associated) return associated;
    if (!named.startsWith('Patient/') && named.includes('|')) {
      const found = await this.deps.client({ kind: 'system' }).search('Patient', { identifier: named, _count: '2' });
      const ids = (found.entry ?? []).map((e) => `Patient/${e.resource?.id}`);
      if (ids.length === 1 && ids[0] === associated) return associated;
    }
    throw new RejectedPayload([
      `The reading names patient ${named}, not the patient Device/${device.id} is associated with`,
    ]);
  }
}

/** The device of a message refused by the topic rules (stored under `refused/{clientId}`). */
function refusedDevice(endpoint: string): string | undefined {
  return /^refused\/(.+)$/.exec(endpoint)?.[1];
}

function parseStatusPayload(payload: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new RejectedPayload(['The status payload is not JSON in UTF-8']);
  }
}
