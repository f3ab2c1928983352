import { loadDefinitions } from '../fhir/definitions.ts';
import { badRequest } from '../fhir/outcomes.ts';
import { splitUnescaped } from './escape.ts';
import type { Criterion } from './model.ts';
import { searchParam, type ParamType } from '../fhir/search-params/registry.ts';

/** Parameters the engine answers without a SearchParameter index (besides `_id` and `_lastUpdated`). */
export const SPECIAL_CODES = new Set(['_text', '_content', '_list']);

/** Modifiers each parameter type accepts (besides `missing`, which all accept). */
export const MODIFIERS: Record<ParamType, string[]> = {
  string: ['exact', 'contains'],
  token: ['text', 'not', 'above', 'below', 'in', 'not-in', 'of-type'],
  reference: ['identifier'],
  uri: ['above', 'below'],
  date: [],
  number: [],
  quantity: [],
  composite: [],
  special: [],
};

/** Raised for a parameter the resource type does not have; lenient handling ignores it with a warning. */
export class UnknownParameter extends Error {}

/**
 * Parses a query parameter name (and its values) into a criterion: plain `code[:modifier]`, chains
 * `code[:Type].rest`, and reverse chains `_has:Type:code:rest`, nested to any depth.
 */
export function parseCriterion(name: string, value: string): Criterion {
  const values = splitUnescaped(value, ',');
  return parseName(name, name, values);
}

function parseName(fullName: string, name: string, values: string[]): Criterion {
  if (name.startsWith('_has:')) {
    const [, sourceType, code, ...rest] = name.split(':');
    if (!sourceType || !code || rest.length === 0) {
      throw badRequest(`Invalid _has parameter "${fullName}": use _has:Type:reference:parameter`, fullName);
    }
    return { kind: 'has', name: fullName, sourceType, code, next: parseName(fullName, rest.join(':'), values) };
  }
  const dot = name.indexOf('.');
  if (dot > 0) {
    const [code, targetType] = name.slice(0, dot).split(':', 2);
    return { kind: 'chain', name: fullName, code, targetType, next: parseName(fullName, name.slice(dot + 1), values) };
  }
  const colon = name.indexOf(':');
  if (colon < 0) return { kind: 'value', name: fullName, code: name, values };
  return { kind: 'value', name: fullName, code: name.slice(0, colon), modifier: name.slice(colon + 1), values };
}

/**
 * Checks a criterion against the definitions of a resource type: throws UnknownParameter for a parameter the type
 * lacks, and a 400 for an invalid modifier or chain.
 */
export function checkCriterion(resourceType: string, c: Criterion): void {
  const types = loadDefinitions().resourceTypeSet;
  if (c.kind === 'compartment') return;
  if (c.kind === 'has') {
    if (!types.has(c.sourceType)) throw badRequest(`Unknown resource type "${c.sourceType}" in ${c.name}`, c.name);
    const ref = searchParam(c.sourceType, c.code);
    if (!ref || ref.type !== 'reference') {
      throw new UnknownParameter(`${c.sourceType} has no reference parameter "${c.code}" (in ${c.name})`);
    }
    if (!ref.target.includes(resourceType)) {
      throw badRequest(`${c.sourceType}.${c.code} cannot refer to ${resourceType} (in ${c.name})`, c.name);
    }
    checkCriterion(c.sourceType, c.next);
    return;
  }
  if (c.kind === 'chain') {
    const ref = searchParam(resourceType, c.code);
    if (!ref) throw new UnknownParameter(`Unknown search parameter "${c.code}" for ${resourceType}`);
    if (ref.type !== 'reference')
      throw badRequest(`"${c.code}" is not a reference parameter; it cannot be chained`, c.name);
    const targets = chainTargets(resourceType, c);
    const known = targets.filter((t) => {
      try {
        checkCriterion(t, c.next);
        return true;
      } catch (err) {
        if (err instanceof UnknownParameter) return false;
        throw err;
      }
    });
    if (known.length === 0) {
      throw new UnknownParameter(`No target type of ${resourceType}.${c.code} has the chained parameter in ${c.name}`);
    }
    return;
  }
  if (c.code === '_id' || c.code === '_lastUpdated' || SPECIAL_CODES.has(c.code)) {
    if (c.modifier && c.modifier !== 'missing' && !(c.code === '_id' && c.modifier === 'not')) {
      throw badRequest(`Modifier ":${c.modifier}" is not supported on ${c.code}`, c.name);
    }
    return;
  }
  const param = searchParam(resourceType, c.code);
  if (!param) throw new UnknownParameter(`Unknown search parameter "${c.code}" for ${resourceType}`);
  if (c.modifier === undefined || c.modifier === 'missing') return;
  if (param.type === 'reference' && types.has(c.modifier)) {
    if (!param.target.includes(c.modifier))
      throw badRequest(`${resourceType}.${c.code} cannot refer to ${c.modifier}`, c.name);
    return;
  }
  if (!MODIFIERS[param.type].includes(c.modifier)) {
    throw badRequest(`Modifier ":${c.modifier}" is not supported on ${param.type} parameter "${c.code}"`, c.name);
  }
}

/** The types a chain step may land on: its `:Type` if given, else every target of the reference parameter. */
export function chainTargets(resourceType: string, c: { code: string; targetType?: string; name: string }): string[] {
  const ref = searchParam(resourceType, c.code);
  if (!ref) return [];
  if (c.targetType === undefined) return ref.target;
  if (!loadDefinitions().resourceTypeSet.has(c.targetType) || !ref.target.includes(c.targetType)) {
    throw badRequest(`${resourceType}.${c.code} cannot refer to "${c.targetType}" (in ${c.name})`, c.name);
  }
  return [c.targetType];
}
