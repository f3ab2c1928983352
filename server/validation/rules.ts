import {
  evalFhirPathTyped,
  isValidCalendarDate,
  parseFhirPath,
  toTypedValue,
  type Constraint,
  type TypedValue,
} from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { tryTypeModel, type PropertyInfo, type TypeModel } from '../fhir/elements.ts';

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
    typeof v.start === 'string' && typeof v.end === 'string' && INSTANT.test(v.start) && INSTANT.test(v.end) && Date.parse(v.start) <= Date.parse(v.end),
  'ref-1': (v) => typeof v.reference !== 'string' || !v.reference.startsWith('#'),
  'qty-3': (v) => (v.code === undefined && v._code === undefined) || v.system !== undefined,
  'obs-6': (v) => v.dataAbsentReason === undefined,
  'obs-7': (v) => v.component === undefined || !Object.keys(v).some((k) => VALUE_X.test(k)),
  'dom-2': (v) => v.contained === undefined,
  'dom-4': (v) => v.contained === undefined,
  'dom-5': (v) => v.contained === undefined,
};

interface CompiledConstraint {
  key: string;
  trivial?: (value: Json) => boolean;
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
        return { key: c.key, trivial: TRIVIALLY_TRUE[c.key], human: c.description, expression, source: c.expression };
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
  private root: TypedValue | undefined;

  resource(value: Json, path: string): void {
    const model = tryTypeModel(String(value.resourceType));
    if (!model?.isResource) {
      this.issue('structure', `Unknown resource type "${String(value.resourceType)}"`, `${path}.resourceType`);
      return;
    }
    const typed = { type: model.name, value };
    this.root ??= typed;
    this.resources.push(typed);
    this.constraints(constraintsOf(model.schema), model.name, value, path);
    this.object(value, model, path);
    this.resources.pop();
  }

  private object(value: Json, model: TypeModel, path: string): void {
    for (const required of requiredOf(model)) {
      let present = false;
      for (const k of required.keys) present ||= value[k] !== undefined;
      if (!present) {
        this.issue('required', `Missing required element "${required.name}" (minimum cardinality ${required.min})`, `${path}.${required.name}`);
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
      else this.property(value[key], value[`_${key}`], prop, `${path}.${key}`);
    }
  }

  private property(value: unknown, extras: unknown, prop: PropertyInfo, path: string): void {
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
          if (prop.kind !== 'primitive' || !partner) this.issue('structure', 'Null values are not allowed here', `${path}[${i}]`);
          return;
        }
        this.value(item, prop, `${path}[${i}]`);
      });
      return;
    }
    if (value === null) {
      this.issue('structure', 'Null values are not allowed', path);
      return;
    }
    this.value(value, prop, path);
  }

  private value(item: unknown, prop: PropertyInfo, path: string): void {
    switch (prop.kind) {
      case 'primitive':
        if (typeof item === 'string') this.primitive(item, prop.type, path);
        break;
      case 'resource':
        this.resource(item as Json, path);
        return;
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
    } else if ((type === 'date' || type === 'dateTime' || type === 'instant') && mayBeNoSuchDay(item) && !isValidCalendarDate(item)) {
      this.issue('value', `Invalid ${type} "${item}": no such day`, path);
    }
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
    if (this.root) variables['%rootResource'] = this.root;
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
