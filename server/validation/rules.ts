import {
  evalFhirPathTyped,
  isValidCalendarDate,
  parseFhirPath,
  toTypedValue,
  type Constraint,
  type TypedValue,
} from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { decimalText } from '../fhir/decimals.ts';
import { tryTypeModel, type PropertyInfo, type TypeModel } from '../fhir/elements.ts';
import { txt1Problem, txt2Problem, xhtmlProblem } from './narrative.ts';

/*
 * The StructureDefinition rules of the base R4 spec, checked on every write: cardinality (min, and max above one),
 * invariants (FHIRPath constraints of severity error, evaluated by @medplum/core's engine), no empty or null values,
 * real calendar dates. Types, unknown elements, value syntax and required bindings are the JSON schema's part
 * (json-schema.ts), which runs first, so this walk can trust the shapes it sees.
 *
 * @medplum/core's validateResource checks the same rules but visits every element of every type definition, present
 * or not, which costs ~170 µs per Synthea resource; this walk visits only the values present, using @medplum/core's
 * parsed definitions and FHIRPath, and stays within the write budget. validateResource is still used for profiles
 * ($validate?profile=…), where slicing and fixed values matter more than speed.
 */

/** Invariants not checked, as in @medplum/core: ele-1 is the empty-value check below, dom-3 needs a full descendants() scan. */
const SKIPPED_CONSTRAINTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);

const UCUM: TypedValue = toTypedValue('http://unitsofmeasure.org');

/** The R4 integer types and their ranges (32-bit; larger values are decimals). */
const INTEGER_RANGES: Record<string, [number, number]> = {
  integer: [-2147483648, 2147483647],
  positiveInt: [1, 2147483647],
  unsignedInt: [0, 2147483647],
};
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

type Json = Record<string, unknown>;

/**
 * Shortcuts for the invariants evaluated on nearly every resource (about 8 of the 10 evaluations per Synthea
 * resource): each answers true only where the FHIRPath expression is trivially true, and otherwise leaves the
 * decision to the FHIRPath engine.
 * - ref-1 `reference.startsWith('#').not() or (…in %rootResource.contained.id)`: true unless a local `#` reference;
 * - dom-2/4/5 `contained.….empty()`: true without contained resources;
 * - qty-3 `code.empty() or system.exists()`: true without a code or with a system;
 * - obs-6 `dataAbsentReason.empty() or value.empty()`: true without a dataAbsentReason;
 * - obs-7 `value.empty() or component.code.where(…).empty()`: true without a value[x] or without components;
 * - per-1 `start <= end`: true when both are instants with a time zone and start is not later. @medplum/core's
 *   FHIRPath compares such dateTimes as text, ignoring their offsets, so a Period across a daylight-saving change
 *   (`01:52:06-04:00` to `01:07:06-05:00`, a quarter of an hour) would fail.
 */
const VALUE_X = /^_?value[A-Z]/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const TRIVIALLY_TRUE: Record<string, (value: Json) => boolean> = {
  'per-1': (v) =>
    typeof v.start === 'string' &&
    typeof v.end === 'string' &&
    INSTANT.test(v.start) &&
    INSTANT.test(v.end) &&
    Date.parse(v.start) <= Date.parse(v.end),
  'ref-1': (v) => typeof v.reference !== 'string' || !v.reference.startsWith('#'),
  'qty-3': (v) => (v.code === undefined && v._code === undefined) || v.system !== undefined,
  'obs-6': (v) => v.dataAbsentReason === undefined,
  'obs-7': (v) => v.component === undefined || !Object.keys(v).some((k) => VALUE_X.test(k)),
  'dom-2': (v) => v.contained === undefined,
  'dom-4': (v) => v.contained === undefined,
  'dom-5': (v) => v.contained === undefined,
};

/**
 * Invariants checked in code instead of FHIRPath: the narrative's txt-1 and txt-2 read `htmlChecks()`, which FHIRPath
 * engines answer with true. Each gives the problem it found, or undefined.
 */
const CHECKED_IN_CODE: Record<string, (div: string) => string | undefined> = {
  'txt-1': txt1Problem,
  'txt-2': txt2Problem,
};

interface CompiledConstraint {
  key: string;
  trivial?: (value: Json) => boolean;
  inCode?: (div: string) => string | undefined;
  human: string;
  expression: ReturnType<typeof parseFhirPath> | undefined;
  source: string;
}

const compiledConstraints = new WeakMap<object, CompiledConstraint[]>();

/** The error-level invariants of a type or element, parsed once. */
function constraintsOf(owner: { constraints?: Constraint[] }): CompiledConstraint[] {
  let list = compiledConstraints.get(owner);
  if (!list) {
    list = (owner.constraints ?? [])
      .filter((c) => c.severity === 'error' && !SKIPPED_CONSTRAINTS.has(c.key))
      .map((c) => {
        let expression;
        try {
          expression = parseFhirPath(c.expression);
        } catch {
          expression = undefined;
        }
        return {
          key: c.key,
          trivial: TRIVIALLY_TRUE[c.key],
          inCode: CHECKED_IN_CODE[c.key],
          human: c.description,
          expression,
          source: c.expression,
        };
      });
    compiledConstraints.set(owner, list);
  }
  return list;
}

/** A mandatory element: its name and the JSON properties (with `_` partners) any of which satisfies it. */
interface RequiredElement {
  name: string;
  min: number;
  keys: string[];
}

const valueConstraintLists = new WeakMap<PropertyInfo, CompiledConstraint[]>();

/**
 * The invariants of a complex value: its element's, plus, for a datatype, the type's own (per-1 of Period, ref-1 of
 * Reference; a snapshot element does not repeat them); a backbone element's type carries the element's again.
 */
function valueConstraints(prop: PropertyInfo, child: TypeModel): CompiledConstraint[] {
  let list = valueConstraintLists.get(prop);
  if (!list) {
    const own = constraintsOf(prop.element);
    const typeLevel = child.schema.kind === 'complex-type' ? constraintsOf(child.schema) : [];
    list = [...typeLevel, ...own.filter((c) => !typeLevel.some((t) => t.key === c.key))];
    valueConstraintLists.set(prop, list);
  }
  return list;
}

const requiredElements = new WeakMap<TypeModel, RequiredElement[]>();

function requiredOf(model: TypeModel): RequiredElement[] {
  let list = requiredElements.get(model);
  if (!list) {
    list = model.slots
      .filter((s) => s.element.min > 0)
      .map((s) => ({
        name: s.key.replace('[x]', ''),
        min: s.element.min,
        keys: s.properties.flatMap((p) => [p.name, `_${p.name}`]),
      }));
    requiredElements.set(model, list);
  }
  return list;
}

/** Checks a resource against the base StructureDefinition rules; returns issues (errors and processing warnings). */
export function checkRules(resource: Resource): OperationOutcomeIssue[] {
  const checker = new RuleChecker();
  checker.resource(resource as unknown as Json, resource.resourceType);
  return checker.issues;
}

class RuleChecker {
  readonly issues: OperationOutcomeIssue[] = [];
  private readonly resources: TypedValue[] = [];
  /**
   * `%rootResource` of each resource being checked: a contained resource's is its container's, every other resource
   * (the top one, a Bundle entry's, a Parameters parameter's) is its own root.
   */
  private readonly roots: TypedValue[] = [];

  resource(value: Json, path: string): void {
    const model = tryTypeModel(String(value.resourceType));
    if (!model?.isResource) {
      this.issue('structure', `Unknown resource type "${String(value.resourceType)}"`, `${path}.resourceType`);
      return;
    }
    const typed = { type: model.name, value };
    const contained = /\.contained\[\d+\]$/.test(path) && this.roots.length > 0;
    this.roots.push(contained ? (this.roots.at(-1) as TypedValue) : typed);
    this.resources.push(typed);
    this.constraints(constraintsOf(model.schema), model.name, value, path);
    this.object(value, model, path);
    this.resources.pop();
    this.roots.pop();
  }

  private object(value: Json, model: TypeModel, path: string): void {
    for (const required of requiredOf(model)) {
      let present = false;
      for (const k of required.keys) present ||= value[k] !== undefined;
      if (!present) {
        this.issue(
          'required',
          `Missing required element "${required.name}" (minimum cardinality ${required.min})`,
          `${path}.${required.name}`,
        );
      }
    }
    for (const key in value) {
      if (key === 'resourceType') continue;
      const extension = key.charCodeAt(0) === 95; // '_'
      const prop = model.properties.get(extension ? key.slice(1) : key);
      if (!prop) {
        this.issue('structure', `Unknown element "${key}"`, `${path}.${key}`);
        continue;
      }
      if (extension) this.primitiveExtras(value[key], value[prop.name], prop, `${path}.${prop.name}`);
      else this.property(value, key, prop, `${path}.${key}`);
    }
  }

  private property(holder: Json, key: string, prop: PropertyInfo, path: string): void {
    const value = holder[key];
    const extras = holder[`_${key}`];
    if (prop.isArray) {
      if (!Array.isArray(value)) return; // reported by the JSON schema
      if (value.length === 0) this.issue('structure', 'Empty arrays are not allowed; leave the element out', path);
      const max = prop.element.max;
      if (Number.isFinite(max) && value.length > max) {
        this.issue('processing', `Too many values: at most ${max} allowed, found ${value.length}`, path);
      }
      value.forEach((item, i) => {
        if (item === null) {
          const partner = Array.isArray(extras) ? extras[i] : undefined;
          if (prop.kind !== 'primitive' || !partner)
            this.issue('structure', 'Null values are not allowed here', `${path}[${i}]`);
          return;
        }
        this.value(item, prop, `${path}[${i}]`, value, i);
      });
      return;
    }
    if (value === null) {
      this.issue('structure', 'Null values are not allowed', path);
      return;
    }
    this.value(value, prop, path, holder, key);
  }

  /** A value of `prop`, held at `holder[key]` (where a number's source text is kept). */
  private value(item: unknown, prop: PropertyInfo, path: string, holder: object, key: string | number): void {
    switch (prop.kind) {
      case 'primitive':
        if (typeof item === 'string') this.primitive(item, prop.type, path);
        else if (typeof item === 'number' && INTEGER_RANGES[prop.type])
          this.integer(decimalText(holder, key, item), prop.type, path);
        break;
      case 'resource':
        this.resource(item as Json, path);
        return;
      case 'xhtml': {
        const problem = typeof item === 'string' ? xhtmlProblem(item) : undefined;
        if (problem) this.issue('structure', `Invalid narrative: ${problem}`, path);
        break;
      }
      case 'complex': {
        const child = tryTypeModel(prop.type);
        if (!child || typeof item !== 'object') return;
        if (isEmptyObject(item as Json)) {
          this.issue('structure', 'Empty objects are not allowed; leave the element out', path);
          return;
        }
        this.constraints(valueConstraints(prop, child), prop.type, item, path);
        this.object(item as Json, child, path);
        return;
      }
      default:
        break;
    }
    this.constraints(constraintsOf(prop.element), prop.type, item, path);
  }

  private primitive(item: string, type: string, path: string): void {
    if (!/\S/.test(item)) {
      this.issue('structure', 'Strings must contain non-whitespace content', path);
    } else if (
      (type === 'date' || type === 'dateTime' || type === 'instant') &&
      mayBeNoSuchDay(item) &&
      !isValidCalendarDate(item)
    ) {
      this.issue('value', `Invalid ${type} "${item}": no such day`, path);
    }
  }

  /**
   * integer, positiveInt, unsignedInt: the JSON schema checks only that they are numbers; R4 wants integer syntax
   * (`1.5`, `1.0` and `1e3` are not) and 32 bits (`99999999999999999999` would be stored rounded).
   */
  private integer(text: string, type: string, path: string): void {
    const [min, max] = INTEGER_RANGES[type];
    if (!INTEGER.test(text)) this.issue('value', `Invalid ${type} ${text}: not an integer`, path);
    else if (Number(text) < min || Number(text) > max)
      this.issue('value', `Invalid ${type} ${text}: outside ${min}..${max}`, path);
  }

  /** `_name`: the id and extensions of primitive values, aligned with them when a list. */
  private primitiveExtras(extras: unknown, values: unknown, prop: PropertyInfo, path: string): void {
    const element = tryTypeModel('Element') as TypeModel;
    const list = prop.isArray && Array.isArray(extras) ? extras : [extras];
    list.forEach((item, i) => {
      const itemPath = prop.isArray ? `${path}[${i}]` : path;
      if (item === null) {
        if (!prop.isArray || !Array.isArray(values) || values[i] === null || values[i] === undefined) {
          this.issue('structure', 'Null values are not allowed here', itemPath);
        }
        return;
      }
      if (typeof item === 'object' && item) this.object(item as Json, element, itemPath);
    });
  }

  private constraints(list: CompiledConstraint[], type: string, value: unknown, path: string): void {
    if (list.length === 0) return;
    let typed: TypedValue | undefined;
    let variables: Record<string, TypedValue> | undefined;
    for (const c of list) {
      if (c.inCode) {
        const problem = typeof value === 'string' ? c.inCode(value) : undefined;
        if (problem) this.issue('invariant', `Constraint ${c.key} failed: ${c.human} (${problem})`, path);
        continue;
      }
      if (!c.expression || c.trivial?.(value as Json)) continue;
      typed ??= { type, value };
      variables ??= this.variables(typed);
      try {
        const result = evalFhirPathTyped(c.expression, [typed], variables);
        // Only an explicit false fails: an empty result (e.g. ref-1 on a Reference with only a display, or per-1
        // comparing dates of different precision) establishes nothing either way.
        if (result.length === 1 && result[0].value === false) {
          this.issue('invariant', `Constraint ${c.key} failed: ${c.human}`, path);
        }
      } catch (err) {
        this.issues.push({
          severity: 'warning',
          code: 'processing',
          diagnostics: `Constraint ${c.key} could not be evaluated (${(err as Error).message}): ${c.source}`,
          expression: [path],
        });
      }
    }
  }

  private variables(context: TypedValue): Record<string, TypedValue> {
    const variables: Record<string, TypedValue> = { '%context': context, '%ucum': UCUM };
    const resource = this.resources.at(-1);
    if (resource) variables['%resource'] = resource;
    const root = this.roots.at(-1);
    if (root) variables['%rootResource'] = root;
    return variables;
  }

  private issue(code: OperationOutcomeIssue['code'], diagnostics: string, path: string): void {
    this.issues.push({ severity: 'error', code, diagnostics, expression: [path] });
  }
}

function isEmptyObject(value: Json): boolean {
  for (const _ in value) return false;
  return true;
}

/** Only days 29–31 can fail to exist; `isValidCalendarDate` builds a Date, so it runs just for those. */
function mayBeNoSuchDay(value: string): boolean {
  return value.length >= 10 && value.charCodeAt(8) >= 50 && (value.charCodeAt(8) > 50 || value.charCodeAt(9) === 57);
}
