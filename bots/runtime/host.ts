import type { Bundle, Provenance, Reference } from '@medplum/fhirtypes';
import { ScopedAccess } from '../../server/auth/access.ts';
import { methodNotAllowed, toOutcomeError } from '../../server/fhir/outcomes.ts';
import { responseResource } from '../../server/core/respond.ts';
import type { FhirRouter } from '../../server/core/router.ts';
import type { AccessContext, FhirContext, FhirMethod, FhirRequest } from '../../server/core/types.ts';
import type { Repository } from '../../server/core/repository.ts';
import type { FhirCallHandler } from './pool.ts';

const METHODS = new Set<FhirMethod>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** The identity a bot acts as: `Device/bot-<name>`, confined to its registered `system/` scopes. */
export function botAccess(name: string, scopes: string): AccessContext {
  const scoped = new ScopedAccess({ clientId: `bot:${name}`, scope: scopes });
  return {
    kind: 'bot',
    actor: botDevice(name),
    clientId: scoped.clientId,
    permits: (p, type) => scoped.permits(p, type),
    whereFor: (p, type) => scoped.whereFor(p, type),
    visibleWhere: (type) => scoped.visibleWhere(type),
  };
}

/** The reference of a bot's Device. */
export function botDevice(name: string): string {
  return `Device/bot-${name}`;
}

/**
 * Answers a bot's FHIR requests in the main thread, through the same router (and access guard) as every other door,
 * with the bot's own access. A write and its Provenance (agent: the bot; entity: the run's input version) are one
 * database transaction, so no resource a bot writes is without it.
 */
export function botFhirHost(deps: {
  router: FhirRouter;
  repo: Repository;
  baseUrl: string;
  access: AccessContext;
  requestId: string;
  input?: Reference;
}): FhirCallHandler {
  return async (call) => {
    const method = call.method.toUpperCase() as FhirMethod;
    if (!METHODS.has(method))
      return { status: 405, resource: methodNotAllowed(`${call.method} is not a FHIR method`).outcome };
    const req: FhirRequest = {
      method,
      path: call.path.replace(/^\/+/, ''),
      query: call.query ?? {},
      body: call.body,
      contentType: call.contentType,
      headers: {},
    };
    try {
      const res = await deps.repo.transaction(async (repo) => {
        const ctx: FhirContext = { repo, baseUrl: deps.baseUrl, requestId: deps.requestId, access: deps.access };
        const out = await deps.router.handle(ctx, req);
        if (method === 'GET') return out;
        const body = responseResource(out);
        // A transaction or batch answers with a Bundle whose entries carry their own Location.
        const writes: [string | undefined, number][] =
          body?.resourceType === 'Bundle'
            ? ((body as Bundle).entry ?? []).map((e) => [e.response?.location, parseInt(e.response?.status ?? '', 10)])
            : [[out.headers?.location, out.status]];
        for (const [location, status] of writes) {
          const written = writtenVersion(location, deps.baseUrl);
          if (written) await repo.create(provenance(written, deps.access.actor as string, status === 201, deps.input));
        }
        return out;
      });
      return { status: res.status, resource: responseResource(res) };
    } catch (err) {
      const outcome = toOutcomeError(err);
      return { status: outcome.status, resource: outcome.outcome };
    }
  };
}

/** `Type/id/_history/n` of a write's Location header. */
function writtenVersion(location: string | undefined, baseUrl: string): string | undefined {
  const path = location?.startsWith(baseUrl) ? location.slice(baseUrl.length + 1) : location;
  return path && /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]+\/_history\/\d+$/.test(path) ? path : undefined;
}

function provenance(target: string, agent: string, created: boolean, input?: Reference): Provenance {
  return {
    resourceType: 'Provenance',
    target: [{ reference: target }],
    recorded: new Date().toISOString(),
    activity: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: created ? 'CREATE' : 'UPDATE' },
      ],
    },
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'assembler',
              display: 'Assembler',
            },
          ],
        },
        who: { reference: agent },
      },
    ],
    ...(input ? { entity: [{ role: 'source' as const, what: input }] } : {}),
  } as Provenance;
}
