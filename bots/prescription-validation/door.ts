import { AsyncLocalStorage } from 'node:async_hooks';
import type { MedicationRequest } from '@medplum/fhirtypes';
import { listEnv } from '../../server/env.ts';
import type { DoorStatus } from '../../server/core/door.ts';
import type { RouteGuard } from '../../server/core/router.ts';
import type { WriteCheck } from '../../server/core/write-checks.ts';
import { outcomeError, OutcomeError, unprocessable } from '../../server/fhir/outcomes.ts';
import type { Host, TributaryDoor } from '../../server/host/host.ts';
import { outcomeIssues } from './issues.ts';
import { VALIDATE_PRESCRIPTION_URL, validatePrescriptionHandler } from './operation.ts';
import { routerReader } from './router-reader.ts';
import { validatePrescription } from './validate.ts';

/** Whether the write being made asked for the hard stop. */
const hardStop = new AsyncLocalStorage<boolean>();

/**
 * The parts of prescription validation that are not the bot: `POST MedicationRequest/$validate-prescription`, and the
 * hard stop — a write check that refuses (422, one issue per blocking problem) a draft or active MedicationRequest
 * with a blocking problem when the request says `Prefer: handling=strict` or comes from an OAuth client listed in
 * `PRESCRIPTION_HARD_STOP_CLIENTS` (`*`: every client; bots are never hard-stopped). Other writes are kept and
 * checked by the bot afterwards (on hold + DetectedIssues). Up when `BOTS` names `prescription-validation` (or `all`).
 */
export function prescriptionValidationDoor(): TributaryDoor {
  let status: DoorStatus = { name: 'prescription-validation', state: 'starting' };
  return {
    name: 'prescription-validation',
    async start(host) {
      const bots = listEnv(host.env, 'BOTS');
      if (!bots.includes('prescription-validation') && !bots.includes('all')) {
        status = { ...status, state: 'disabled', reason: 'BOTS does not name prescription-validation' };
        return;
      }
      const clients = new Set(listEnv(host.env, 'PRESCRIPTION_HARD_STOP_CLIENTS'));
      host.router.add(
        'POST',
        'MedicationRequest/$validate-prescription',
        'validate-prescription',
        validatePrescriptionHandler(host.router),
        'read',
      );
      host.router.capabilities.defineOperation('validate-prescription', VALIDATE_PRESCRIPTION_URL);
      host.router.useGuard(hardStopGuard(clients));
      host.writeChecks.add('prescription-hard-stop', hardStopCheck(host), { types: ['MedicationRequest'] });
      status = { ...status, state: 'up' };
    },
    async stop() {
      status = { ...status, state: status.state === 'up' ? 'down' : status.state };
    },
    status: () => status,
  };
}

/** Marks the writes of a request that asked for the hard stop (and the entries of such a Bundle). */
function hardStopGuard(clients: ReadonlySet<string>): RouteGuard {
  return (ctx, req, _match, run) => {
    if (hardStop.getStore()) return run(ctx);
    const { kind, clientId } = ctx.access;
    const asked =
      req.headers.preferHandling === 'strict' ||
      (kind !== 'bot' && (clients.has('*') || (clientId !== undefined && clients.has(clientId))));
    return asked ? hardStop.run(true, () => run(ctx)) : run(ctx);
  };
}

/** The hard stop: validates in the write's own transaction, as the server, and vetoes on a blocking problem. */
function hardStopCheck(host: Host): WriteCheck {
  return async (resource, { repo }) => {
    const request = resource as MedicationRequest;
    if (!hardStop.getStore() || (request.status !== 'draft' && request.status !== 'active')) return;
    const reader = routerReader({
      router: host.router,
      repo,
      baseUrl: host.fhirBase,
      access: { kind: 'system', clientId: 'prescription-hard-stop' },
    });
    let result;
    try {
      result = await validatePrescription(request, reader);
    } catch (err) {
      if (err instanceof OutcomeError && err.status >= 500) throw err;
      throw unprocessable(`The prescription could not be checked: ${(err as Error).message}`.slice(0, 500));
    }
    if (result.blocked) throw outcomeError(422, outcomeIssues(result.findings));
  };
}
