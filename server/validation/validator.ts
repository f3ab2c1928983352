import { validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { loadDefinitions } from '../fhir/definitions.ts';
import { outcomeError } from '../fhir/outcomes.ts';
import { findIllFormedValue } from '../fhir/well-formed.ts';
import { checkStructure, compileStructuralValidator, schemaCoversType } from './json-schema.ts';
import { checkRules } from './rules.ts';

/** Issue codes that mean the content is not even well-formed FHIR (400); the others break rules (422). */
const STRUCTURAL_CODES = new Set<OperationOutcomeIssue['code']>(['structure', 'value', 'code-invalid', 'too-costly']);

/** Prepares validation (compiles the JSON schema) so that the first write does not pay for it. */
export function prepareValidation(): void {
  compileStructuralValidator();
}

/**
 * Validates a resource against the R4 base definitions: values no resource may hold first (NUL, lone surrogates,
 * numbers out of range), the JSON schema (structure, types, value syntax, required bindings), then, when that passes,
 * the StructureDefinition rules (cardinality, invariants). With a profile, @medplum/core's validator also checks the resource against it (slicing, fixed values, profile bindings).
 * A type the JSON schema lacks is checked by @medplum/core's validator alone. Returns every issue found (errors and
 * warnings).
 */
export function validate(resource: Resource, profile?: StructureDefinition): OperationOutcomeIssue[] {
  const illFormed = wellFormedIssues(resource);
  if (illFormed.length > 0) return illFormed;
  if (
    typeof resource.resourceType === 'string' &&
    !schemaCoversType(resource.resourceType) &&
    isStoredType(resource.resourceType)
  ) {
    return coreIssues(resource, profile);
  }
  const structural = checkStructure(resource);
  if (structural.length > 0) return structural;
  const issues = checkRules(resource);
  if (profile) issues.push(...coreIssues(resource, profile));
  return issues;
}

function isStoredType(resourceType: string): boolean {
  return loadDefinitions().resourceTypeSet.has(resourceType);
}

/** @medplum/core's validation against the base definition or a profile. */
function coreIssues(resource: Resource, profile?: StructureDefinition): OperationOutcomeIssue[] {
  try {
    return validateResource(resource, profile ? { profile } : undefined);
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome;
    if (outcome?.issue) return outcome.issue;
    throw err;
  }
}

/** The errors among issues (severity error or fatal). */
export function errorsOf(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  return issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
}

/** The HTTP status for a list of errors: 400 when the content is malformed, 422 when it breaks rules. */
export function statusOf(errors: OperationOutcomeIssue[]): 400 | 422 {
  return errors.some((i) => STRUCTURAL_CODES.has(i.code)) ? 400 : 422;
}

/**
 * A string with NUL or a lone surrogate, or a number no decimal can be (1e999999), anywhere in the resource: not FHIR,
 * and not storable (Postgres' jsonb refuses them, which would break every full-text search of the type).
 */
function wellFormedIssues(resource: Resource): OperationOutcomeIssue[] {
  const bad = findIllFormedValue(
    resource,
    typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource',
  );
  return bad ? [{ severity: 'error', code: 'value', diagnostics: bad.problem, expression: [bad.path] }] : [];
}

/** The check every write gets even with VALIDATE_WRITES=off: refuses (400) values no resource may hold and none can store. */
export function checkWellFormed(resource: Resource): void {
  const issues = wellFormedIssues(resource);
  if (issues.length > 0) throw outcomeError(400, issues);
}

/** The write check: refuses a resource with any error, 400 (structure) or 422 (rules), naming the element paths. */
export function checkWrite(resource: Resource): void {
  const errors = errorsOf(validate(resource));
  if (errors.length > 0) throw outcomeError(statusOf(errors), errors);
}
