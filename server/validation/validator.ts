import { validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { outcomeError } from '../fhir/outcomes.ts';

/** Validates a resource against its base StructureDefinition; returns the issues (errors and warnings). */
export function validate(resource: Resource): OperationOutcomeIssue[] {
  try {
    return validateResource(resource);
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome;
    if (outcome?.issue) return outcome.issue;
    throw err;
  }
}

/** The write check: refuses (400) a resource with any error-level issue. */
export function checkWrite(resource: Resource): void {
  const errors = validate(resource).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length > 0) throw outcomeError(400, errors);
}
