import { getDataType, type InternalSchemaElement } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { expressionFor, type ParamType, type TypedParam } from '../../fhir/search-params/registry.ts';

/**
 * Generates, for a search parameter of a type, a resource that carries a value at the parameter's FHIRPath expression,
 * plus a search value that must find it and one that must not. Walks the expression (paths, `ofType`/`as`, `where`
 * filters, `[0]`) over the StructureDefinitions to know each element's type and cardinality.
 */
export interface ParamSample {
  resource: Resource;
  match: string;
  miss: string;
}

type Step = { name: string; ofType?: string; where?: [string, string]; resolveIs?: string; index?: boolean };

/** One value of an element type, and the search values that match / miss it for a parameter type. */
interface Leaf {
  value: unknown;
  match: string;
  miss: string;
}

function capitalize(s: string): string {
  return s[0].toUpperCase() + s.slice(1);
}

function parseSteps(branch: string, resourceType: string): Step[] | undefined {
  let text = branch.trim();
  if (!/^\(?[A-Z]/.test(text)) text = `${resourceType}.${text}`;
  const as = /^\((.*) as ([A-Za-z]+)\)$/.exec(text);
  if (as) text = `${as[1]}.ofType(${as[2]})`;
  text = text.replace(/^\((.*)\)$/, '$1').replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)');
  if (!text.startsWith(resourceType + '.')) return undefined;
  const steps: Step[] = [];
  for (const part of text
    .slice(resourceType.length + 1)
    .match(/[A-Za-z]+\([^()]*(?:\([^()]*\))?[^()]*\)|[A-Za-z]+(?:\[0\])?/g) ?? []) {
    const ofType = /^ofType\(([A-Za-z]+)\)$/.exec(part);
    const resolveIs = /^where\(resolve\(\) is ([A-Za-z]+)\)$/.exec(part);
    const where = /^where\(([a-z]+)='([^']+)'\)$/.exec(part);
    if (ofType) steps[steps.length - 1].ofType = ofType[1];
    else if (resolveIs) steps[steps.length - 1].resolveIs = resolveIs[1];
    else if (where) steps[steps.length - 1].where = [where[1], where[2]];
    else if (/^[A-Za-z]+(\[0\])?$/.test(part))
      steps.push({ name: part.replace('[0]', ''), index: part.endsWith('[0]') });
    else return undefined;
  }
  return steps;
}

function element(typeName: string, name: string): [InternalSchemaElement, string] | undefined {
  const schema = getDataType(typeName);
  const direct = schema.elements[name];
  if (direct) return [direct, name];
  const choice = schema.elements[`${name}[x]`];
  return choice ? [choice, `${name}[x]`] : undefined;
}

function elementTypeName(el: InternalSchemaElement, code: string): string {
  return code === 'BackboneElement' || code === 'Element' ? el.path.split('.').map(capitalize).join('') : code;
}

/** A sample value of an element type for a parameter type. */
function leafFor(code: string, paramType: ParamType, target?: string): Leaf | undefined {
  const coding = { system: 'http://example.org/cs', code: 'c1' };
  switch (code) {
    case 'CodeableConcept':
      return { value: { coding: [coding] }, match: 'http://example.org/cs|c1', miss: 'http://example.org/cs|zz' };
    case 'Coding':
      return { value: coding, match: 'http://example.org/cs|c1', miss: 'http://example.org/cs|zz' };
    case 'Identifier':
      return { value: { system: 'urn:sample', value: 'v1' }, match: 'urn:sample|v1', miss: 'urn:sample|zz' };
    case 'ContactPoint':
      return { value: { system: 'email', value: 'a@example.org' }, match: 'a@example.org', miss: 'b@example.org' };
    case 'boolean':
      return { value: true, match: 'true', miss: 'false' };
    case 'HumanName':
      return { value: { family: 'Alpha' }, match: 'alp', miss: 'zulu' };
    case 'Address':
      return { value: { city: 'Alpha' }, match: 'alp', miss: 'zulu' };
    case 'Reference':
      return {
        value: { reference: `${target ?? 'Patient'}/sample-1` },
        match: `${target ?? 'Patient'}/sample-1`,
        miss: `${target ?? 'Patient'}/other-1`,
      };
    case 'date':
    case 'dateTime':
    case 'instant':
      return { value: code === 'instant' ? '2020-02-02T10:00:00Z' : '2020-02-02', match: '2020-02-02', miss: '2021' };
    case 'Period':
      return { value: { start: '2020-02-02', end: '2020-02-03' }, match: 'ge2020-02-02', miss: 'lt2019' };
    case 'Timing':
      return { value: { event: ['2020-02-02'] }, match: '2020-02-02', miss: '2021' };
    case 'Quantity':
    case 'Age':
    case 'Duration':
    case 'Distance':
    case 'Count':
    case 'SimpleQuantity':
      return {
        value: { value: 5, system: 'http://unitsofmeasure.org', code: 'mg' },
        match: '5|http://unitsofmeasure.org|mg',
        miss: '6',
      };
    case 'Money':
      return { value: { value: 5, currency: 'EUR' }, match: '5|urn:iso:std:iso:4217|EUR', miss: '6' };
    case 'Range':
      return { value: { low: { value: 4 }, high: { value: 6 } }, match: 'ge5', miss: 'gt7' };
    case 'integer':
    case 'positiveInt':
    case 'unsignedInt':
    case 'decimal':
      return { value: 5, match: '5', miss: '6' };
    case 'canonical':
      return {
        value: 'http://example.org/fhir/Thing/t1',
        match: 'http://example.org/fhir/Thing/t1',
        miss: 'http://example.org/other',
      };
    case 'uri':
    case 'url':
    case 'oid':
    case 'uuid':
      return paramType === 'uri' || paramType === 'reference'
        ? {
            value: 'http://example.org/fhir/Thing/t1',
            match: 'http://example.org/fhir/Thing/t1',
            miss: 'http://example.org/other',
          }
        : { value: 'urn:x-sample', match: 'urn:x-sample', miss: 'urn:x-other' };
    case 'string':
    case 'markdown':
      return paramType === 'string'
        ? { value: 'Alpha', match: 'alp', miss: 'zulu' }
        : { value: 'Alpha', match: 'Alpha', miss: 'Zulu' };
    case 'code':
    case 'id':
      return { value: 'c1', match: 'c1', miss: 'zz' };
    case 'GeoPosition':
      return { value: { latitude: 47.37, longitude: 8.54 }, match: '47.37|8.54|1|km', miss: '52.52|13.4|1|km' };
    default:
      return undefined;
  }
}

/** Builds a resource with `leaf` at the end of the path; undefined when the path cannot be walked. */
function build(resourceType: string, steps: Step[], paramType: ParamType, target: string[]): ParamSample | undefined {
  const root: Record<string, unknown> = { resourceType };
  let holder: Record<string, unknown> = root;
  let typeName = resourceType;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const found = element(typeName, step.name);
    if (!found) return undefined;
    const [el, key] = found;
    const last = i === steps.length - 1;
    const code =
      step.ofType ??
      (last ? el.type.map((t) => t.code).find((c) => c === 'Resource' || leafFor(c, paramType)) : undefined) ??
      el.type[0]?.code;
    if (!code) return undefined;
    const jsonName = key.endsWith('[x]') ? step.name + capitalize(code) : step.name;
    const wrap = (v: unknown) => (el.isArray || el.max > 1 ? [v] : v);
    if (i === steps.length - 1) {
      const refTarget = step.resolveIs ?? target.find((t) => t !== 'Resource') ?? 'Patient';
      const leaf =
        code === 'Resource'
          ? {
              value: { resourceType: 'Composition', id: 'sample-1' },
              match: 'Composition/sample-1',
              miss: 'Composition/other-1',
            }
          : leafFor(code, paramType, refTarget);
      if (!leaf) return undefined;
      let value = leaf.value;
      if (step.where && typeof value === 'object') value = { ...(value as object), [step.where[0]]: step.where[1] };
      holder[jsonName] = wrap(value);
      return { resource: root as unknown as Resource, match: leaf.match, miss: leaf.miss };
    }
    const child: Record<string, unknown> = {};
    if (step.where) child[step.where[0]] = step.where[1];
    if (code === 'Resource' && typeName === 'BundleEntry') {
      // Bundle.entry[0].resource.… does not occur beyond the last step in R4.
      return undefined;
    }
    holder[jsonName] = wrap(child);
    holder = child;
    typeName = elementTypeName(el, code);
  }
  return undefined;
}

/** A sample for a parameter of a resource type, or undefined when the expression is outside what this generator walks. */
export function sampleFor(resourceType: string, param: TypedParam): ParamSample | undefined {
  if (param.code === 'deceased' && resourceType === 'Patient') {
    return { resource: { resourceType: 'Patient', deceasedBoolean: true } as Resource, match: 'true', miss: 'false' };
  }
  if (param.type === 'composite') return compositeSample(resourceType, param);
  if (param.type === 'special' && param.code === 'near') {
    return {
      resource: { resourceType, position: { latitude: 47.37, longitude: 8.54 } } as Resource,
      match: '47.37|8.54|1|km',
      miss: '52.52|13.4|1|km',
    };
  }
  if (!param.expression) return undefined;
  for (const branch of expressionFor(resourceType, param.expression).split(' | ')) {
    const steps = parseSteps(branch, resourceType);
    const sample = steps && build(resourceType, steps, param.type, param.target);
    if (sample) return sample;
  }
  return undefined;
}

function compositeSample(resourceType: string, param: TypedParam): ParamSample | undefined {
  const base = expressionFor(resourceType, param.expression as string)
    .split(' | ')
    .pop() as string;
  let resource: Record<string, unknown> | undefined;
  const matches: string[] = [];
  const misses: string[] = [];
  for (const [i, component] of (param.components ?? []).entries()) {
    const raw = component.text.split(' | ')[0].trim();
    const expression = raw.startsWith('%resource.')
      ? `${resourceType}.${raw.slice('%resource.'.length)}`
      : `${base.trim()}.${raw}`;
    const steps = parseSteps(expression, resourceType);
    const sample = steps && build(resourceType, steps, component.param.type, component.param.target);
    if (!sample) return undefined;
    resource = merge(resource ?? {}, sample.resource as unknown as Record<string, unknown>);
    matches.push(sample.match);
    misses.push(i === 0 ? sample.match : sample.miss);
  }
  if (!resource) return undefined;
  return { resource: resource as unknown as Resource, match: matches.join('$'), miss: misses.join('$') };
}

/** Deep merge of two sample resources (arrays merged element-wise), so components land in the same element. */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const existing = out[k];
    if (Array.isArray(existing) && Array.isArray(v))
      out[k] = [merge(existing[0] as Record<string, unknown>, v[0] as Record<string, unknown>)];
    else if (existing && typeof existing === 'object' && v && typeof v === 'object')
      out[k] = merge(existing as Record<string, unknown>, v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}
