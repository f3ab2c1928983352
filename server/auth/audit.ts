import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding, OperationOutcome } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Repository } from '../core/repository.ts';
import type { RouteGuard, RouteMatch } from '../core/router.ts';
import type { FhirRequest } from '../core/types.ts';
import { newResourceId } from '../store/ids.ts';
import { AuditEventIndexer } from './audit-indexer.ts';

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
  /** Events written per INSERT. */
  batchSize: number;
  /** Longest an event waits in memory before it is written. */
  flushMs: number;
  /** Events kept in memory at most; beyond, new events are dropped and counted (the database cannot keep up). */
  maxQueue: number;
}

/**
 * The audit trail: every authorization decision and resource access becomes an AuditEvent. Recording costs the
 * request a push to memory; the events are written in batches (one multi-row INSERT each) to `audit_queue`, a table
 * with no index but its key, which is what makes auditing cheap on the hot path (bench/auth-audit.ts); the
 * AuditEventIndexer (audit-indexer.ts) turns them into AuditEvent resources of the store in the background, and
 * every request that reads AuditEvents first waits for it to catch up (`catchUp`).
 */
export class AuditTrail {
  private queue: { record: AuditRecord; recorded: string }[] = [];
  private timer?: NodeJS.Timeout;
  private persisting?: Promise<void>;
  /** Events dropped because the queue was full. */
  dropped = 0;
  readonly indexer: AuditEventIndexer;

  constructor(
    private readonly pool: pg.Pool,
    repo: Repository,
    private readonly logger: Logger,
    private readonly options: AuditOptions = { batchSize: 500, flushMs: 200, maxQueue: 100_000 },
  ) {
    this.indexer = new AuditEventIndexer(pool, repo, logger, queuedAuditEvent);
  }

  /** Queues an event; returns at once. */
  record(record: AuditRecord): void {
    if (this.queue.length >= this.options.maxQueue) {
      if (this.dropped++ % 1000 === 0)
        this.logger.error({ dropped: this.dropped }, 'audit queue full: AuditEvents dropped');
      return;
    }
    this.queue.push({ record, recorded: new Date().toISOString() });
    if (this.queue.length === this.options.batchSize) void this.writeBatch();
    else this.timer ??= setTimeout(() => void this.persist(), this.options.flushMs).unref();
  }

  /** Writes everything recorded so far to the durable queue (not yet searchable: see `flush`). */
  async persist(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    do await this.writeBatch();
    while (this.queue.length > 0);
  }

  /**
   * Writes the next batch (after the one being written: one INSERT at a time). Events recorded meanwhile wait for a
   * full batch or the timer, so that under load each INSERT carries many events.
   */
  private async writeBatch(): Promise<void> {
    while (this.persisting) await this.persisting;
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.batchSize);
    this.persisting = this.write(batch).finally(() => (this.persisting = undefined));
    await this.persisting;
    this.indexer.wake();
    if (this.queue.length >= this.options.batchSize) void this.writeBatch();
    else if (this.queue.length > 0) this.timer ??= setTimeout(() => void this.persist(), this.options.flushMs).unref();
  }

  /** Writes everything recorded so far and indexes every queued event: all of them are AuditEvent resources after. */
  async flush(): Promise<void> {
    await this.persist();
    await this.indexer.indexAll();
  }

  /** Before a request that reads AuditEvents: persists what is recorded and indexes the queue (for `maxMs` at most). */
  catchUp(maxMs = 5000): Promise<void> {
    // One catch-up at a time (each after the one before): readers arriving together do not each take a connection.
    const next = (this.catchingUp ?? Promise.resolve()).then(async () => {
      await this.persist();
      await this.indexer.indexAll(maxMs);
    });
    const tail = next.catch(() => {});
    this.catchingUp = tail;
    void tail.then(() => {
      if (this.catchingUp === tail) this.catchingUp = undefined;
    });
    return next;
  }

  private catchingUp?: Promise<void>;

  /** Persists what is recorded and stops the indexer (the queue's rows are indexed by the next node to run). */
  async close(): Promise<void> {
    await this.persist();
    await this.indexer.stop();
  }

  private async write(batch: { record: AuditRecord; recorded: string }[]): Promise<void> {
    const ids: string[] = [];
    const contents: string[] = [];
    for (const { record, recorded } of batch) {
      ids.push(newResourceId());
      // The record, not its AuditEvent (a quarter of the size): the indexer builds the AuditEvent (queuedAuditEvent).
      contents.push(JSON.stringify([recorded, record]));
    }
    try {
      await this.pool.query({
        name: 'tributary-audit-queue',
        text: 'INSERT INTO audit_queue (id, content) SELECT * FROM unnest($1::text[], $2::text[])',
        values: [ids, contents],
      });
    } catch (err) {
      this.logger.error({ err, events: batch.length }, 'writing AuditEvents failed');
    }
  }
}

/** The AuditEvent of a row of `audit_queue` (what AuditTrail wrote: the time it was recorded and the record). */
export function queuedAuditEvent(content: string): AuditEvent {
  const [recorded, record] = JSON.parse(content) as [string, AuditRecord];
  return toAuditEvent(record, recorded);
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

/**
 * Wraps the access guard: a request that may read AuditEvents (their type, a system-level search or history, a
 * compartment's every type, `$everything`, an `_include`/`_revinclude` naming them) first lets the audit trail
 * catch up, so it sees the events recorded before it (AuditTrail.catchUp).
 */
export function auditedGuard(trail: () => AuditTrail | undefined, guard: RouteGuard): RouteGuard {
  return async (ctx, req, match, run) => {
    const audit = trail();
    if (!audit || !mayReadAuditEvents(req, match)) return guard(ctx, req, match, run);
    // Once the access guard has let the request through: a refused one costs no indexing.
    return guard(ctx, req, match, async (c) => {
      await audit.catchUp();
      return run(c);
    });
  };
}

/** Interactions that read every type when no type is named. */
const SYSTEM_READS = new Set(['search-system', 'history-system', 'search-compartment']);

/** Interactions that read. */
const READS = new Set([
  'read',
  'vread',
  'history-instance',
  'history-type',
  'search-type',
  'everything',
  ...SYSTEM_READS,
]);

function mayReadAuditEvents(req: FhirRequest, match: RouteMatch): boolean {
  if (!READS.has(match.interaction)) return false; // a transaction's entries come through the guard one by one
  const type = match.params.type;
  if (type === 'AuditEvent' || match.interaction === 'everything') return true;
  if (type === undefined && SYSTEM_READS.has(match.interaction)) return true;
  const included = [...(req.query._include ?? []), ...(req.query._revinclude ?? [])];
  return included.some((v) => v.includes('AuditEvent') || v.includes('*'));
}
