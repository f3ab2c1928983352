import { searchParam } from '../fhir/search-params/registry.ts';
import type { Criterion, ValueCriterion } from './model.ts';

/**
 * The criterion a search of one type is anchored on, if any: a reference to one patient (`patient=123`,
 * `subject=Patient/123`, `subject:Patient=123`). A patient's resources are few (hundreds, rarely thousands) whatever the
 * size of the database, while a code or a status may match a tenth of it; so such a search starts from the patient's
 * index rows by construction (where.ts), and checks every other criterion on each of them, instead of letting the
 * planner choose from statistics, which with codes repeated thousands of times sometimes started from the code
 * (issue 15: one plan scanned 2,739 rows for ~20 ms, against ~1 ms from the patient).
 */
export function patientAnchor(resourceType: string, criteria: Criterion[]): ValueCriterion | undefined {
  for (const c of criteria) {
    if (c.kind !== 'value' || c.values.length !== 1) continue;
    if (c.modifier !== undefined && c.modifier !== 'Patient') continue;
    if (searchParam(resourceType, c.code)?.type !== 'reference') continue;
    const value = c.values[0];
    const named = /^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(value);
    const bare = /^[A-Za-z0-9\-.]{1,64}$/.test(value);
    if (named || (bare && (c.modifier === 'Patient' || (c.code === 'patient' && patientOnly(resourceType, c.code)))))
      return c;
  }
  return undefined;
}

/** Whether a reference parameter can only point at Patients (`patient` of most types; not `Group.member`'s kind). */
function patientOnly(resourceType: string, code: string): boolean {
  const targets = (searchParam(resourceType, code) as { target?: string[] } | undefined)?.target;
  return targets !== undefined && targets.length === 1 && targets[0] === 'Patient';
}
