import type { Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../../server/fhir/outcomes.ts';
import type { FhirRouter } from '../../server/core/router.ts';
import type { FhirHandler } from '../../server/core/types.ts';
import type { BotRuntime } from './runtime.ts';

/** Registers `POST Device/[id]/$execute` on the router. */
export function addBotOperations(router: FhirRouter, runtime: BotRuntime): void {
  router.add('POST', 'Device/:id/$execute', 'execute', executeBotHandler(runtime), 'unrestricted');
  router.capabilities.defineOperation('execute', 'https://tributary.dev/fhir/OperationDefinition/bot-execute');
}

/**
 * `POST Device/bot-<name>/$execute`: runs a bot now, on the resource in the body (or the `input` parameter of a
 * Parameters body, or nothing), and answers with the outcome, the handler's result, its log and the duration. For
 * trying a bot out; the run is audited like a triggered one.
 */
export function executeBotHandler(runtime: BotRuntime): FhirHandler {
  return async (_ctx, req, { id }) => {
    const name = id.startsWith('bot-') ? id.slice(4) : '';
    if (!runtime.names().has(name)) throw notFound(`Device/${id} is not a bot`);
    const body = req.body as Resource | undefined;
    if (
      body !== undefined &&
      (typeof body !== 'object' || Array.isArray(body) || typeof body.resourceType !== 'string')
    ) {
      throw badRequest(
        'The body of $execute must be a FHIR resource (the input) or a Parameters resource with an input parameter',
      );
    }
    const input =
      body?.resourceType === 'Parameters'
        ? (body as Parameters).parameter?.find((p) => p.name === 'input')?.resource
        : body;
    const outcome = await runtime.execute(name, input);
    if (!outcome) throw notFound(`Device/${id} is not a bot`);
    const parameter: ParametersParameter[] = [
      { name: 'outcome', valueCode: outcome.ok ? 'success' : 'failure' },
      { name: 'durationMs', valueInteger: outcome.durationMs },
    ];
    if (outcome.ok) parameter.push({ name: 'result', valueString: JSON.stringify(outcome.result ?? null) });
    else parameter.push({ name: 'error', valueString: outcome.error ?? 'failed' });
    if (outcome.logs.length) parameter.push({ name: 'log', valueString: outcome.logs.join('\n') });
    return { status: 200, resource: { resourceType: 'Parameters', parameter } as Parameters };
  };
}
