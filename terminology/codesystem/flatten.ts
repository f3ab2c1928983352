import type { CodeSystem, CodeSystemConcept, CodeSystemConceptProperty } from '@medplum/fhirtypes';
import type { Designation, FlatConcept } from '../model.ts';
import { ancestorClosure } from './closure.ts';

/** Properties that name a parent concept (R4 CodeSystem standard properties). */
const PARENT_PROPERTIES = new Set(['parent', 'subsumedBy']);

/** Properties whose true value (or `retired` status) makes a concept inactive. */
function isInactive(properties: CodeSystemConceptProperty[] | undefined): boolean {
  return (properties ?? []).some(
    (p) =>
      (p.code === 'inactive' && p.valueBoolean === true) ||
      (p.code === 'status' && ['retired', 'inactive'].includes(String(p.valueCode ?? p.valueString))) ||
      (p.code === 'deprecated' && p.valueBoolean === true),
  );
}

function isAbstract(properties: CodeSystemConceptProperty[] | undefined): boolean {
  return (properties ?? []).some(
    (p) => (p.code === 'notSelectable' || p.code === 'abstract') && (p.valueBoolean === true || p.valueCode === 'true'),
  );
}

/** The text form of a property value, as filters compare it. */
export function propertyText(p: CodeSystemConceptProperty): string | undefined {
  if (p.valueCode !== undefined) return p.valueCode;
  if (p.valueCoding) return p.valueCoding.code;
  if (p.valueString !== undefined) return p.valueString;
  if (p.valueInteger !== undefined) return String(p.valueInteger);
  if (p.valueBoolean !== undefined) return String(p.valueBoolean);
  if (p.valueDateTime !== undefined) return p.valueDateTime;
  if (p.valueDecimal !== undefined) return String(p.valueDecimal);
  return undefined;
}

/**
 * Flattens a CodeSystem's concepts (nested `concept`s and `parent`/`subsumedBy` properties both make parents) into
 * ordinal-numbered concepts with their ancestor closure.
 */
export function flattenCodeSystem(cs: Pick<CodeSystem, 'concept'>): FlatConcept[] {
  const flat: FlatConcept[] = [];
  const byCode = new Map<string, number>();
  const namedParents: string[][] = [];
  const walk = (concepts: CodeSystemConcept[], parent: number | undefined) => {
    for (const c of concepts) {
      if (typeof c.code !== 'string') continue;
      let ord = byCode.get(c.code);
      if (ord === undefined) {
        ord = flat.length;
        byCode.set(c.code, ord);
        flat.push(fromConcept(ord, c));
        namedParents.push([]);
      }
      if (parent !== undefined && !flat[ord].parents.includes(parent)) flat[ord].parents.push(parent);
      for (const p of c.property ?? []) {
        if (PARENT_PROPERTIES.has(p.code as string)) {
          const v = propertyText(p);
          if (v) namedParents[ord].push(v);
        }
      }
      if (c.concept?.length) walk(c.concept, ord);
    }
  };
  walk(cs.concept ?? [], undefined);
  namedParents.forEach((names, ord) => {
    for (const name of names) {
      const p = byCode.get(name);
      if (p !== undefined && p !== ord && !flat[ord].parents.includes(p)) flat[ord].parents.push(p);
    }
  });
  const closure = ancestorClosure(flat.map((c) => c.parents));
  flat.forEach((c, i) => (c.ancestors = closure[i]));
  return flat;
}

function fromConcept(ord: number, c: CodeSystemConcept): FlatConcept {
  const props: Record<string, string[]> = {};
  for (const p of c.property ?? []) {
    const v = propertyText(p);
    if (p.code && v !== undefined) (props[p.code] ??= []).push(v);
  }
  const designations: Designation[] | undefined = c.designation
    ?.filter((d) => typeof d.value === 'string')
    .map((d) => ({ language: d.language, use: d.use, value: d.value as string }));
  return {
    ord,
    code: c.code as string,
    display: c.display,
    definition: c.definition,
    inactive: isInactive(c.property),
    abstract: isAbstract(c.property),
    parents: [],
    ancestors: [],
    props,
    designations: designations?.length ? designations : undefined,
    properties: c.property?.filter((p) => !PARENT_PROPERTIES.has(p.code as string)),
  };
}
