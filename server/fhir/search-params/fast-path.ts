import { getDataType, type InternalSchemaElement, type TypedValue } from '@medplum/core';

/**
 * Compiles the simple FHIRPath expressions nearly all SearchParameters use — element paths with `ofType`/`as`,
 * `where(resolve() is Type)`, `where(field='literal')` and `[0]`, joined by `|` — into plain property walks over the
 * resource JSON, typed from the StructureDefinitions at compile time. Hand-written because evaluating them with the
 * general FHIRPath engine on every write cost most of the indexing time (ingest speed is a target); any expression
 * outside this subset returns undefined and is evaluated by @medplum/core as before. A test checks both agree.
 */
export type Extractor = (resource: object) => TypedValue[];

interface CompiledStep {
  /** JSON property names to read, each with the FHIR type its values have. */
  keys: [json: string, type: string][];
  resolveIs?: string;
  where?: [field: string, literal: string];
  first?: boolean;
}

type Json = Record<string, unknown>;

/** Compiles a (type-narrowed) expression, or returns undefined when it is outside the supported subset. */
export function compileExpression(resourceType: string, branches: string[]): Extractor | undefined {
  const compiled: CompiledStep[][] = [];
  for (const branch of branches) {
    const path = compileBranch(resourceType, branch.trim());
    if (!path || path.steps.length === 0) return undefined;
    compiled.push(path.steps);
  }
  return (resource) => {
    const out: TypedValue[] = [];
    for (const steps of compiled)
      walk([{ type: (resource as Json).resourceType as string, value: resource }], steps, out);
    return out;
  };
}

/** Per element a composite's expression selects, the values of each of its components. */
export type CompositeExtractor = (resource: object) => TypedValue[][][];

/**
 * Compiles a composite parameter: its (type-narrowed) base branches, and each component's expression relative to the
 * element (or to the resource with `%resource.`). Undefined when any part is outside the supported subset.
 */
export function compileComposite(
  resourceType: string,
  branches: string[],
  components: string[],
): CompositeExtractor | undefined {
  const bases: { steps: CompiledStep[]; parts: { steps: CompiledStep[]; fromRoot: boolean }[] }[] = [];
  for (const branch of branches) {
    const base = compileBranch(resourceType, branch.trim());
    if (!base?.typeName) return undefined;
    const parts: { steps: CompiledStep[]; fromRoot: boolean }[] = [];
    for (const text of components) {
      const fromRoot = text.startsWith('%resource.');
      const compiled = fromRoot
        ? compileBranch(resourceType, `${resourceType}.${text.slice('%resource.'.length)}`)
        : compileSteps(base.typeName, text.trim());
      if (!compiled || compiled.steps.length === 0) return undefined;
      parts.push({ steps: compiled.steps, fromRoot });
    }
    bases.push({ steps: base.steps, parts });
  }
  return (resource) => {
    const root: TypedValue = { type: (resource as Json).resourceType as string, value: resource };
    const out: TypedValue[][][] = [];
    for (const base of bases) {
      const elements: TypedValue[] = [];
      walk([root], base.steps, elements);
      for (const element of elements) {
        out.push(
          base.parts.map((part) => {
            const values: TypedValue[] = [];
            walk([part.fromRoot ? root : element], part.steps, values);
            return values;
          }),
        );
      }
    }
    return out;
  };
}

function walk(start: TypedValue[], steps: CompiledStep[], out: TypedValue[]): void {
  let current = start;
  for (const step of steps) {
    const next: TypedValue[] = [];
    for (const { value } of current) {
      if (typeof value !== 'object' || value === null) continue;
      for (const [key, type] of step.keys) {
        const v = (value as Json)[key];
        if (v === undefined || v === null) continue;
        if (Array.isArray(v)) for (const item of v) push(next, item, type, step);
        else push(next, v, type, step);
      }
    }
    current = step.first ? next.slice(0, 1) : next;
    if (current.length === 0) return;
  }
  out.push(...current);
}

function push(next: TypedValue[], value: unknown, type: string, step: CompiledStep): void {
  if (value === undefined || value === null) return;
  if (step.resolveIs !== undefined) {
    const ref = (value as Json).reference;
    if (typeof ref !== 'string' || referenceType(ref) !== step.resolveIs) return;
  }
  if (step.where && (value as Json)[step.where[0]] !== step.where[1]) return;
  next.push({ type: type === 'Resource' ? ((value as Json).resourceType as string) : type, value });
}

function referenceType(ref: string): string | undefined {
  return /(?:^|\/)([A-Z][A-Za-z]+)\/[^/]+(?:\/_history\/[^/]+)?$/.exec(ref)?.[1];
}

const STEP_RE = /[A-Za-z]+\([^()]*(?:\([^()]*\))?[^()]*\)|[A-Za-z]+(?:\[0\])?/g;

interface CompiledPath {
  steps: CompiledStep[];
  /** The type of the values the path ends on, when it is one known type. */
  typeName?: string;
  /** The ValueSet a `code` element the path ends on is bound to (required strength). */
  binding?: string;
}

/**
 * The required ValueSet bindings of the `code` elements an expression's branches end on, or undefined unless every
 * branch ends on such an element.
 */
export function codeBindings(resourceType: string, branches: string[]): string[] | undefined {
  const bindings: string[] = [];
  for (const branch of branches) {
    const binding = compileBranch(resourceType, branch.trim())?.binding;
    if (!binding) return undefined;
    bindings.push(binding);
  }
  return bindings;
}

function compileBranch(resourceType: string, branch: string): CompiledPath | undefined {
  let text = branch;
  const as = /^\((.*) as ([A-Za-z]+)\)$/.exec(text);
  if (as) text = `${as[1]}.ofType(${as[2]})`;
  text = text.replace(/^\((.*)\)$/, '$1').replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)');
  if (text === resourceType) return { steps: [], typeName: resourceType };
  if (!text.startsWith(resourceType + '.')) return undefined;
  return compileSteps(resourceType, text.slice(resourceType.length + 1));
}

/** Compiles a dotted path relative to a value of type `startType`. */
function compileSteps(startType: string, text: string): CompiledPath | undefined {
  let rest = text;
  const as = /^\((.*) as ([A-Za-z]+)\)$/.exec(rest);
  if (as) rest = `${as[1]}.ofType(${as[2]})`;
  rest = rest.replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)');
  const parts = rest.match(STEP_RE) ?? [];
  if (parts.join('.') !== rest) return undefined;
  const steps: CompiledStep[] = [];
  let typeName: string | undefined = startType;
  let binding: string | undefined;
  let pending: { name: string; first: boolean } | undefined;
  let ofType: string | undefined;
  const flush = (): boolean => {
    if (!pending) return true;
    if (!typeName) return false;
    const found = element(typeName, pending.name);
    if (!found) return false;
    const [el, choice] = found;
    let types = el.type.map((t) => t.code);
    if (ofType) types = types.filter((t) => t.toLowerCase() === ofType?.toLowerCase());
    const keys = types.map((t): [string, string] => [
      choice ? pending!.name + t[0].toUpperCase() + t.slice(1) : pending!.name,
      t,
    ]);
    steps.push({ keys, first: pending.first });
    typeName = types.length === 1 ? childTypeName(el, types[0]) : undefined;
    binding =
      types.length === 1 && types[0] === 'code' && el.binding?.strength === 'required'
        ? el.binding.valueSet
        : undefined;
    pending = undefined;
    ofType = undefined;
    return true;
  };
  for (const part of parts) {
    const ofTypeMatch = /^ofType\(([A-Za-z]+)\)$/.exec(part);
    const resolveIs = /^where\(resolve\(\) is ([A-Za-z]+)\)$/.exec(part);
    const where = /^where\(([a-z]+) ?= ?'([^']*)'\)$/.exec(part);
    if (ofTypeMatch && pending) {
      ofType = ofTypeMatch[1];
    } else if (resolveIs || where) {
      if (!flush() || steps.length === 0) return undefined;
      const last = steps[steps.length - 1];
      if (resolveIs) last.resolveIs = resolveIs[1];
      else last.where = [where![1], where![2]];
    } else if (/^[A-Za-z]+(\[0\])?$/.test(part)) {
      if (!flush()) return undefined;
      pending = { name: part.replace('[0]', ''), first: part.endsWith('[0]') };
    } else {
      return undefined;
    }
  }
  return flush() && steps.length > 0 ? { steps, typeName, binding } : undefined;
}

function element(typeName: string, name: string): [InternalSchemaElement, boolean] | undefined {
  let schema;
  try {
    schema = getDataType(typeName);
  } catch {
    return undefined;
  }
  const direct = schema?.elements?.[name];
  if (direct) return [direct, false];
  const choice = schema?.elements?.[`${name}[x]`];
  return choice ? [choice, true] : undefined;
}

function childTypeName(el: InternalSchemaElement, code: string): string | undefined {
  if (code === 'Resource') return undefined;
  if (code === 'BackboneElement' || code === 'Element') {
    return el.path
      .split('.')
      .map((p) => p[0].toUpperCase() + p.slice(1))
      .join('');
  }
  return code;
}
