import {
  evalFhirPathTyped,
  fhirpathPatchTypedValue,
  getElementDefinition,
  getTypedPropertyValue,
  parseFhirPath,
  parseFhirPathPatchParameters,
  toTypedValue,
  type FhirPathPatch,
  type TypedValue,
} from '@medplum/core';
import type { Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { badRequest, unprocessable } from '../../fhir/outcomes.ts';

const REQUIRED_PARTS: Record<string, string[]> = {
  add: ['path', 'name', 'value'],
  insert: ['path', 'index', 'value'],
  delete: ['path'],
  replace: ['path', 'value'],
  move: ['path', 'source', 'destination'],
};

/**
 * Applies a FHIRPath Patch (a Parameters resource, R4 fhirpatch.html) to a copy of `resource` and returns the copy.
 * Operations are decoded and applied by @medplum/core; this adds what it lacks: checking each operation before use
 * (400 naming the parameter), values given as nested parts (complex types without a data type, e.g. a
 * BackboneElement), and dropping the empty arrays/objects a delete leaves behind (FHIR JSON forbids them).
 * An operation that cannot be applied to this resource (no or several targets, index out of range) → 422.
 */
export function applyFhirPathPatch<T extends Resource>(resource: T, patch: Parameters): T {
  const params = patch.parameter ?? [];
  const ops = parseFhirPathPatchParameters(patch);
  const copy = structuredClone(resource);
  const root = toTypedValue(copy);
  let opIndex = 0;
  params.forEach((param, i) => {
    const where = `Parameters.parameter[${i}]`;
    if (param.name !== 'operation') throw badRequest(`Unknown FHIRPath Patch parameter "${param.name}"`, where);
    const op = ops[opIndex++];
    checkOperation(op, param, where);
    const valuePart = param.part?.find((p) => p.name === 'value');
    if (valuePart?.part && REQUIRED_PARTS[op.type].includes('value')) {
      (op as { value: TypedValue }).value = valueFromParts(root, op, valuePart.part, where);
    }
    try {
      fhirpathPatchTypedValue(root, [op]);
    } catch (err) {
      throw unprocessable(
        `FHIRPath Patch ${op.type} at "${op.path}" cannot be applied: ${(err as Error).message}`,
        where,
      );
    }
  });
  return pruneEmpty(copy) as T;
}

function checkOperation(op: FhirPathPatch, param: ParametersParameter, where: string): void {
  const required = REQUIRED_PARTS[op.type as string];
  if (!required)
    throw badRequest(
      `FHIRPath Patch operation type must be one of ${Object.keys(REQUIRED_PARTS).join(', ')}`,
      `${where}.part`,
    );
  for (const name of required) {
    if (!param.part?.some((p) => p.name === name))
      throw badRequest(`FHIRPath Patch ${op.type} needs a "${name}" part`, `${where}.part`);
  }
  for (const name of ['index', 'source', 'destination'] as const) {
    const v = (op as Record<string, unknown>)[name];
    if (required.includes(name) && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) {
      throw badRequest(`FHIRPath Patch ${op.type}: "${name}" must be a non-negative valueInteger`, `${where}.part`);
    }
  }
  if (typeof op.path !== 'string') throw badRequest('FHIRPath Patch "path" must be a valueString', `${where}.part`);
  if (op.type === 'add' && (typeof op.name !== 'string' || !/^[a-z][A-Za-z0-9]*$/.test(op.name))) {
    throw badRequest('FHIRPath Patch add: "name" must be an element name (valueString)', `${where}.part`);
  }
  try {
    parseFhirPath(op.path);
  } catch (err) {
    throw badRequest(`Invalid FHIRPath "${op.path}": ${(err as Error).message}`, `${where}.part`);
  }
  const value = (op as { value?: TypedValue }).value;
  const valuePart = param.part?.find((p) => p.name === 'value');
  if (valuePart && !valuePart.part && value?.value === undefined && required.includes('value')) {
    throw badRequest(`FHIRPath Patch ${op.type}: the "value" part has no value[x]`, `${where}.part`);
  }
}

/** The value of a `value` part given as nested parts, typed from the element the operation targets. */
function valueFromParts(root: TypedValue, op: FhirPathPatch, parts: ParametersParameter[], where: string): TypedValue {
  const targets = evalFhirPathTyped(op.path, [root]);
  let typeName: string | undefined;
  if (op.type === 'add') {
    typeName = targets.length === 1 ? getElementDefinition(targets[0].type, op.name)?.type[0]?.code : undefined;
  } else {
    typeName = targets[0]?.type;
  }
  if (!typeName)
    throw unprocessable(`FHIRPath Patch ${op.type} at "${op.path}": cannot tell the type of the value`, where);
  return { type: typeName, value: objectFromParts(typeName, parts, where) };
}

function objectFromParts(typeName: string, parts: ParametersParameter[], where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const part of parts) {
    const name = part.name as string;
    const element = getElementDefinition(typeName, name) ?? getElementDefinition(typeName, `${name}[x]`);
    if (!element) throw unprocessable(`${typeName} has no element "${name}"`, where);
    let key = name;
    let value: unknown;
    if (part.part) {
      value = objectFromParts(element.type[0].code, part.part, where);
    } else {
      const typed = getTypedPropertyValue({ type: 'ParametersParameter', value: part }, 'value') as
        TypedValue | undefined;
      if (typed?.value === undefined) throw badRequest(`Part "${name}" has neither a value[x] nor parts`, where);
      if (element.path.endsWith('[x]')) key = name + typed.type.charAt(0).toUpperCase() + typed.type.slice(1);
      value = typed.value;
    }
    if (element.isArray) ((out[key] ??= []) as unknown[]).push(value);
    else if (key in out) throw unprocessable(`${typeName}.${name} does not repeat`, where);
    else out[key] = value;
  }
  return out;
}

/** Removes empty arrays and objects (a delete of the last item leaves them; FHIR JSON does not allow them). */
function pruneEmpty(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(pruneEmpty).filter((v) => v !== undefined);
  }
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      const v = pruneEmpty(obj[key]);
      if (
        v === undefined ||
        (Array.isArray(v) && v.length === 0) ||
        (isPlainObject(v) && Object.keys(v).length === 0)
      ) {
        delete obj[key];
      } else {
        obj[key] = v;
      }
    }
    return obj;
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}
