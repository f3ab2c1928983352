import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding, OperationOutcome } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { Repository } from '../core/repository.ts';

/** What happened, in the terms of an AuditEvent (IHE BALP "RESTful activity" and "user authentication" patterns). */
export interface AuditRecord {
  /** `rest` for a FHIR interaction, `login` for an OAuth decision (token grant, authorization). */
  kind: 'rest' | 'login';
  /** FHIR interaction (read, create, search-type…) or OAuth step (token, authorization). */
  subtype: string;
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  success: boolean;
  description?: string;
  /** The OperationOutcome of a failure (e.g. a transaction's, naming the entry that failed it). */
  outcome?: OperationOutcome;
  clientId?: string;
  /** The user's FHIR resource (`Practitioner/1`) or account id. */
  user?: string;
  /** The resource acted on (`Observation/5`) or the query (`Observation?code=x`). */
  what?: string;
  query?: string;
  /** The patient the data belongs to (launch context), for BALP's patient entity. */
  patient?: string;
  /** Client network address. */
  address?: string;
  requestId?: string;
}

const EVENT_TYPE: Record<AuditRecord['kind'], Coding> = {
  rest: {
    system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
    code: 'rest',
    display: 'Restful Operation',
  },
  login: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114', display: 'User Authentication' },
};

/** The entity type of a failure's OperationOutcome (carried as JSON in the entity's detail). */
const OUTCOME_TYPE: Coding = {
  system: 'http://hl7.org/fhir/resource-types',
  code: 'OperationOutcome',
  display: 'OperationOutcome',
};

/** Options of the audit trail's batching. */
export interface AuditOptions {
  /** Events written per database transaction. */
  batchSize: number;
  /** Longest an event waits in memory before it is written. */
  flushMs: number;
  /** Events kept in memory at most; beyond, new events are dropped and counted (the database cannot keep up). */
  maxQueue: number;
}

/** Events built between two turns of the event loop while a batch is written (requests get their turns too). */
const YIELD_EVERY = 25;

/**
 * The audit trail: every authorization decision and resource access becomes an AuditEvent, queued in memory as it
 * happened and built and written in batches (one DB transaction per batch) off the request's hot path, so auditing
 * costs a fraction of the throughput (bench/auth-audit.ts measures it).
 */
export class AuditTrail {
  private queue: { record: AuditRecord; recorded: string }[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  /** Events dropped because the queue was full. */
  dropped = 0;

  constructor(
    private readonly repo: Repository,
    private readonly logger: Logger,
    private readonly options: AuditOptions = { batchSize: 500, flushMs: 1000, maxQueue: 100_000 },
  ) {}

  /** Queues an event; returns at once. */
  record(record: AuditRecord): void {
    if (this.queue.length >= this.options.maxQueue) {
      if (this.dropped++ % 1000 === 0)
        this.logger.error({ dropped: this.dropped }, 'audit queue full: AuditEvents dropped');
      return;
    }
    this.queue.push({ record, recorded: new Date().toISOString() });
    if (this.queue.length >= this.options.batchSize) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs).unref();
  }

  /** Writes everything queued so far. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.batchSize);
    this.flushing = this.write(batch).finally(() => (this.flushing = undefined));
    await this.flushing;
    if (this.queue.length > 0) await this.flush();
  }

  private async write(batch: { record: AuditRecord; recorded: string }[]): Promise<void> {
    try {
      await this.repo.transaction(async (repo) => {
        for (const [i, { record, recorded }] of batch.entries()) {
          if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise<void>((resolve) => setImmediate(resolve));
          await repo.create(toAuditEvent(record, recorded));
        }
      });
    } catch (err) {
      this.logger.error({ err, events: batch.length }, 'writing AuditEvents failed');
    }
  }
}

/**
 * Builds a BALP-style AuditEvent: the user (when there is one) and the OAuth client as agents, the requestor being the
 * user or else the client; the resource or query, the patient and the request id as entities. Nothing is repeated
 * (a read of the patient itself is one entity in the patient role), as every element costs index rows.
 */
export function toAuditEvent(r: AuditRecord, recorded = new Date().toISOString()): AuditEvent {
  const network = r.address ? { network: { address: r.address, type: '2' as const } } : {};
  const agents: AuditEventAgent[] = [];
  if (r.user || !r.clientId) {
    agents.push({
      type: {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
            code: 'IRCP',
            display: 'information recipient',
          },
        ],
      },
      requestor: true,
      who: r.user?.includes('/') ? { reference: r.user } : { identifier: { value: r.user ?? 'anonymous' } },
      ...network,
    });
  }
  if (r.clientId) {
    agents.push({
      type: {
        coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110150', display: 'Application' }],
      },
      requestor: !r.user,
      who: { identifier: { system: 'urn:tributary:oauth-client', value: r.clientId } },
      ...(r.user ? {} : network),
    });
  }
  const patientRole = { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' };
  const patient = r.patient ? `Patient/${r.patient}` : undefined;
  const query = r.query ? { query: Buffer.from(r.query).toString('base64') } : {};
  const entity: AuditEventEntity[] = [];
  if (r.what)
    entity.push({ what: { reference: r.what }, ...(r.what === patient ? { role: patientRole } : {}), ...query });
  else if (r.query) entity.push(query);
  if (patient && r.what !== patient) entity.push({ what: { reference: patient }, role: patientRole });
  if (r.requestId) entity.push({ what: { identifier: { system: 'urn:tributary:request-id', value: r.requestId } } });
  if (r.outcome)
    entity.push({ type: OUTCOME_TYPE, detail: [{ type: 'OperationOutcome', valueString: JSON.stringify(r.outcome) }] });
  return {
    resourceType: 'AuditEvent',
    type: EVENT_TYPE[r.kind],
    subtype: [
      r.kind === 'rest'
        ? { system: 'http://hl7.org/fhir/restful-interaction', code: r.subtype }
        : { system: 'urn:tributary:oauth', code: r.subtype },
    ],
    action: r.action,
    recorded,
    outcome: r.success ? '0' : '4',
    ...(r.description ? { outcomeDesc: r.description } : {}),
    agent: agents,
    source: {
      observer: { display: 'Tributary' },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
    ...(entity.length ? { entity } : {}),
  };
}
