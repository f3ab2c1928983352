import type { Parameters } from '@medplum/fhirtypes';
import type { CodingCheck } from '../valueset/membership.ts';
import { parametersOf } from './params.ts';

/**
 * The output of `$validate-code`: result, message, display, and for a code whose system this server does not hold,
 * `x-caused-by-unknown-system` (tx.fhir.org's parameter, which the HL7 validator reads as "unknown", not "invalid").
 */
export function validationResult(check: CodingCheck): Parameters {
  return parametersOf([
    { name: 'result', valueBoolean: check.valid },
    check.message ? { name: 'message', valueString: check.message } : undefined,
    check.display ? { name: 'display', valueString: check.display } : undefined,
    check.system ? { name: 'system', valueUri: check.system } : undefined,
    check.code ? { name: 'code', valueCode: check.code } : undefined,
    check.version ? { name: 'version', valueString: check.version } : undefined,
    check.inactive ? { name: 'inactive', valueBoolean: true } : undefined,
    check.unknownSystem ? { name: 'x-caused-by-unknown-system', valueCanonical: check.unknownSystem } : undefined,
  ]);
}
