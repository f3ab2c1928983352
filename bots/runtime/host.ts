import type { Reference } from '@medplum/fhirtypes';
import { ScopedAccess } from '../../server/auth/access.ts';
import { InProcessClient } from '../../server/core/client.ts';
import type { Repository } from '../../server/core/repository.ts';
import { responseResource } from '../../server/core/respond.ts';
import type { FhirRouter } from '../../server/core/router.ts';
import type { AccessContext } from '../../server/core/types.ts';
import type { FhirCallHandler } from './pool.ts';

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
 * Answers a bot's FHIR requests in the main thread through the in-process client (server/core/client.ts): the same
 * router and access guard as every other door, with the bot's own access; a write and its Provenance (agent: the
 * bot; entity: the run's input version) are one database transaction. Failures answer the OperationOutcome.
 */
export function botFhirHost(deps: {
  router: FhirRouter;
  repo: Repository;
  baseUrl: string;
  access: AccessContext;
  requestId: string;
  input?: Reference;
}): FhirCallHandler {
  const client = new InProcessClient({
    ...deps,
    identity: { agent: { reference: deps.access.actor }, source: deps.input },
  });
  return async (call) => {
    try {
      const params = new URLSearchParams();
      for (const [name, values] of Object.entries(call.query ?? {})) for (const v of values) params.append(name, v);
      const url = `${call.path}${params.size ? `?${params}` : ''}`;
      const res = await client.request({ method: call.method, url, body: call.body, contentType: call.contentType });
      return { status: res.status, resource: responseResource(res) };
    } catch (err) {
      const outcome = InProcessClient.failure(err);
      return { status: outcome.status, resource: outcome.outcome };
    }
  };
}
