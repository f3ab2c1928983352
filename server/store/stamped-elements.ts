import type { OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { OutcomeError } from '../fhir/outcomes.ts';

/**
 * Refuses (400 `structure`) what the store's stamp would otherwise hide from the write check: the store sets `id` (on
 * create), `meta.versionId` and `meta.lastUpdated` itself, so a `null` there, or a `meta` that is not an object
 * (`"meta": null` spread into a fresh object), would vanish before validation and be accepted while `$validate`
 * refuses it. The issues are the validator's own (server/validation/rules.ts, json-schema.ts), so a write and
 * `$validate` answer alike; this runs with VALIDATE_WRITES=off too (a stamped-over null is never stored as sent).
 * `"meta": {}` stays accepted: the stamp fills it (the validator, reading the resource as sent, calls it empty).
 */
export function refuseHiddenByStamp(resource: Resource): void {
  const type = typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource';
  const issues: OperationOutcomeIssue[] = [];
  const nullAt = (path: string) => issues.push(structure('Null values are not allowed', path));
  if ((resource.id as unknown) === null) nullAt(`${type}.id`);
  const meta = resource.meta as unknown;
  if (meta === null) nullAt(`${type}.meta`);
  else if (meta !== undefined && (typeof meta !== 'object' || Array.isArray(meta))) {
    issues.push(structure(`Expected object but found ${Array.isArray(meta) ? 'array' : typeof meta}`, `${type}.meta`));
  } else if (meta) {
    const { versionId, lastUpdated } = meta as Record<string, unknown>;
    if (versionId === null) nullAt(`${type}.meta.versionId`);
    if (lastUpdated === null) nullAt(`${type}.meta.lastUpdated`);
  }
  if (issues.length > 0)
    throw new OutcomeError(400, { resourceType: 'OperationOutcome', issue: issues } as OperationOutcome);
}

function structure(diagnostics: string, path: string): OperationOutcomeIssue {
  return { severity: 'error', code: 'structure', diagnostics, expression: [path] };
}
