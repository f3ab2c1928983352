import type { Bundle, Provenance, ProvenanceAgent, Reference, Resource } from '@medplum/fhirtypes';
import { toOutcomeError, type OutcomeError } from '../fhir/outcomes.ts';
import type { Repository } from './repository.ts';
import { fhirRequest } from './request.ts';
import { responseResource } from './respond.ts';
import type { FhirRouter } from './router.ts';
import type { AccessContext, FhirContext, FhirRequestHeaders, FhirResponse, WrittenVersion } from './types.ts';

/** Who writes through a client, for the Provenance of every write: the door's identity and the source it read. */
export interface ClientIdentity {
  /** The acting door, bot or device (`Device/bot-news2`, `Device/mllp-lab-feed`): Provenance.agent.who. */
  agent: ProvenanceAgent['who'];
  /** What the written data came from (the stored raw message, a bot run's input version): Provenance.entity. */
  source?: Reference;
}

/** What a client needs of the running server. */
export interface InProcessClientDeps {
  router: FhirRouter;
  repo: Repository;
  /** FHIR base URL, for the links and Locations of responses. */
  baseUrl: string;
  /** Whose access requests run with: the guard judges every request (and Bundle entry) by it. */
  access: AccessContext;
  /** Request id of log lines and AuditEvents (default: the agent's reference). */
  requestId?: string;
  /** With an identity, every write gets a Provenance in the write's own database transaction. */
  identity?: ClientIdentity;
}

/** A request as a door states it: method, URL relative to the FHIR base, and optionally a body and headers. */
export interface ClientRequest {
  method: string;
  url: string;
  body?: unknown;
  contentType?: string;
  headers?: FhirRequestHeaders;
}

/**
 * The FHIR API in-process, for doors that are not HTTP (HL7v2, MQTT, bots, jobs): every request goes through the same
 * router and access guard as an HTTP request, with the door's own `AccessContext`. A write (a transaction Bundle
 * included) and the Provenance of what it wrote (agent = the door's identity, entity = its source) commit in one
 * database transaction, so nothing a door writes lacks its Provenance and nothing is half-written. Failures throw
 * the one error type, `OutcomeError` (`failure(err)` turns anything thrown into one), which each door maps to its own
 * failure form (an HL7 NAK, an MQTT rejection, a failed bot run).
 */
export class InProcessClient {
  constructor(private readonly deps: InProcessClientDeps) {}

  /** Runs one request; throws an OutcomeError when it fails. */
  async request(req: ClientRequest): Promise<FhirResponse> {
    const request = fhirRequest({ ...req, baseUrl: this.deps.baseUrl });
    const run = async (repo: Repository) => {
      const ctx: FhirContext = {
        repo,
        baseUrl: this.deps.baseUrl,
        requestId: this.deps.requestId ?? this.deps.identity?.agent.reference ?? 'in-process',
        access: this.deps.access,
      };
      const res = await this.deps.router.handle(ctx, request);
      const identity = this.deps.identity;
      if (identity && res.written?.length) await repo.create(provenanceOf(res.written, identity));
      return res;
    };
    return request.method === 'GET' ? run(this.deps.repo) : this.deps.repo.transaction(run);
  }

  /** Reads a resource by id. */
  async read<T extends Resource>(resourceType: T['resourceType'], id: string): Promise<T> {
    return responseResource(await this.request({ method: 'GET', url: `${resourceType}/${id}` })) as T;
  }

  /** Searches a type; `query` values are repeated parameters when arrays. */
  async search<T extends Resource>(
    resourceType: T['resourceType'],
    query: Record<string, string | string[]> = {},
  ): Promise<Bundle<T>> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) for (const v of [value].flat()) params.append(name, v);
    const url = `${resourceType}${params.size ? `?${params}` : ''}`;
    return responseResource(await this.request({ method: 'GET', url })) as Bundle<T>;
  }

  /** Creates a resource (server-assigned id). */
  async create<T extends Resource>(resource: T): Promise<T> {
    return responseResource(await this.request({ method: 'POST', url: resource.resourceType, body: resource })) as T;
  }

  /** Updates (or creates with its id) a resource. */
  async update<T extends Resource>(resource: T & { id: string }): Promise<T> {
    const url = `${resource.resourceType}/${resource.id}`;
    return responseResource(await this.request({ method: 'PUT', url, body: resource })) as T;
  }

  /** Runs a transaction or batch Bundle and returns its response Bundle. */
  async bundle(bundle: Bundle): Promise<Bundle> {
    return responseResource(await this.request({ method: 'POST', url: '', body: bundle })) as Bundle;
  }

  /** Anything thrown by a request, as the one error type (doors map it to their own failure form). */
  static failure(err: unknown): OutcomeError {
    return toOutcomeError(err);
  }
}

const DATA_OPERATION = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';
const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';

/** One Provenance for the versions a request wrote: targets, the door as assembler, the source as entity. */
function provenanceOf(written: WrittenVersion[], identity: ClientIdentity): Provenance {
  const kinds = new Set(written.map((w) => (w.interaction === 'create' ? 'CREATE' : 'UPDATE')));
  const [activity] = kinds;
  return {
    resourceType: 'Provenance',
    target: written.map((w) => ({ reference: `${w.resourceType}/${w.id}/_history/${w.versionId}` })),
    recorded: new Date().toISOString(),
    ...(kinds.size === 1 ? { activity: { coding: [{ system: DATA_OPERATION, code: activity }] } } : {}),
    agent: [
      {
        type: { coding: [{ system: PARTICIPANT_TYPE, code: 'assembler', display: 'Assembler' }] },
        who: identity.agent,
      },
    ],
    ...(identity.source ? { entity: [{ role: 'source', what: identity.source }] } : {}),
  };
}
