import type { Resource } from '@medplum/fhirtypes';

// Placeholder until _summary/_elements land (in progress in this session).
/** Applies `_summary` (true, text, data, count, false) to a resource. */
export function applySummary<T extends Resource>(resource: T, _mode: string): T {
  return resource;
}

/** Applies `_elements` to a resource, keeping mandatory elements and marking it SUBSETTED. */
export function applyElements<T extends Resource>(resource: T, _elements: string[]): T {
  return resource;
}
