import type { Resource } from '@medplum/fhirtypes';
import { applyPatch, type Operation } from 'rfc6902';
import { badRequest, unprocessable } from '../../fhir/outcomes.ts';

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);
/** Pointer tokens that would reach JavaScript object internals instead of resource data. */
const FORBIDDEN_TOKENS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Applies a JSON Patch (RFC 6902, via the rfc6902 library) to a copy of `resource` and returns the copy.
 * A malformed patch document → 400 naming the operation; an operation that does not apply to this resource
 * (missing path, failed `test`) → 422. All operations apply or none (the copy is discarded on error).
 */
export function applyJsonPatch<T extends Resource>(resource: T, patch: unknown): T {
  const ops = checkJsonPatch(patch);
  const copy = structuredClone(resource);
  const results = applyPatch(copy, ops);
  const failed = results.findIndex((r) => r !== null);
  if (failed >= 0) {
    const op = ops[failed];
    throw unprocessable(
      `JSON Patch operation ${failed} (${op.op} ${op.path}) failed: ${results[failed]?.message}`,
      `[${failed}]`,
    );
  }
  return copy;
}

function checkJsonPatch(patch: unknown): Operation[] {
  if (!Array.isArray(patch)) throw badRequest('A JSON Patch document must be an array of operations');
  patch.forEach((op, i) => {
    const where = `[${i}]`;
    if (!op || typeof op !== 'object' || Array.isArray(op))
      throw badRequest(`JSON Patch operation ${i} is not an object`, where);
    if (!OPS.has(op.op)) throw badRequest(`JSON Patch operation ${i} has an unknown op "${op.op}"`, where);
    checkPointer(op.path, i, 'path');
    if (op.op === 'move' || op.op === 'copy') checkPointer(op.from, i, 'from');
    if ((op.op === 'add' || op.op === 'replace' || op.op === 'test') && !('value' in op)) {
      throw badRequest(`JSON Patch operation ${i} (${op.op}) needs a value`, where);
    }
  });
  return patch as Operation[];
}

function checkPointer(pointer: unknown, i: number, member: string): void {
  if (typeof pointer !== 'string' || (pointer !== '' && !pointer.startsWith('/'))) {
    throw badRequest(`JSON Patch operation ${i}: "${member}" must be a JSON Pointer`, `[${i}]`);
  }
  if (pointer.split('/').some((token) => FORBIDDEN_TOKENS.has(token))) {
    throw badRequest(`JSON Patch operation ${i}: "${member}" names a forbidden member`, `[${i}]`);
  }
}
