import type { Bundle, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { ProfileError } from './check.ts';

/** What the readers share: the matches of a searchset, absence, profile errors. */

/** The matches of a searchset. */
export function matches<T extends Resource>(bundle: Bundle<T>): T[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include' && e.resource).map((e) => e.resource as T);
}

export const absent = (status: number) => status === 404 || status === 410;

/** The errors among validation issues, as profile errors. */
export function profileErrorsOf(issues: OperationOutcomeIssue[] | undefined): ProfileError[] {
  return issues
    ? issues
        .filter((i) => i.severity === 'error' || i.severity === 'fatal')
        .map((i) => ({ path: i.expression?.[0] ?? '', message: i.diagnostics ?? i.details?.text ?? i.code }))
    : [];
}
