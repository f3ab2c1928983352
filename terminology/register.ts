import type { Resource } from '@medplum/fhirtypes';
import { requireValidId, type FhirRouter } from '../server/core/router.ts';
import type { FhirContext, FhirHandler, FhirRequest } from '../server/core/types.ts';
import { lookup, subsumesOperation, validateCodeInSystem } from './operations/codesystem.ts';
import { translate } from './operations/conceptmap.ts';
import { expand, validateCodeInValueSet } from './operations/valueset.ts';

type Operation = (ctx: FhirContext, req: FhirRequest, id?: string) => Promise<Resource>;

/** The terminology operations (R4 terminology module), each at type and instance level, GET and POST. */
const OPERATIONS: [type: string, name: string, run: Operation][] = [
  ['CodeSystem', 'lookup', lookup],
  ['CodeSystem', 'validate-code', validateCodeInSystem],
  ['CodeSystem', 'subsumes', subsumesOperation],
  ['ValueSet', 'expand', expand],
  ['ValueSet', 'validate-code', validateCodeInValueSet],
  ['ConceptMap', 'translate', translate],
];

function handler(run: Operation): FhirHandler {
  return async (ctx, req, params) => {
    if (params.id) requireValidId(params.id);
    return { status: 200, resource: await run(ctx, req, params.id) };
  };
}

/**
 * Registers the terminology operations on the router. They only read, so the access guard treats them as reads of
 * their type (search permission) or of the instance they are called on (server/auth/enforce.ts).
 */
export function addTerminologyOperations(router: FhirRouter): void {
  for (const [type, name, run] of OPERATIONS) {
    for (const method of ['GET', 'POST'] as const) {
      router.add(method, `${type}/$${name}`, name, handler(run), 'read');
      router.add(method, `${type}/:id/$${name}`, name, handler(run), 'read');
    }
    router.capabilities.defineOperation(name, `http://hl7.org/fhir/OperationDefinition/${type}-${name}`);
  }
}
