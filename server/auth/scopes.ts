import { getSearchParameters } from '@medplum/core';
import type { SearchCriteria } from '../core/types.ts';

/** SMART v2 permissions: create, read, update, delete, search. */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

/** The order SMART v2 requires permissions to be written in (`cruds`). */
const PERMISSION_ORDER: Permission[] = ['c', 'r', 'u', 'd', 's'];

/** A parsed SMART resource scope such as `patient/Observation.rs?category=vital-signs` or `user/*.read`. */
export interface ResourceScope {
  /** The scope exactly as requested. */
  raw: string;
  context: 'patient' | 'user' | 'system';
  /** A resource type, or `*` for every type. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  /** Granular restriction (v2 `?param=value`), ANDed into every access the scope grants. */
  criteria?: SearchCriteria;
}

/** Context and identity scopes SMART defines besides resource scopes. */
export const SMART_CONTEXT_SCOPES = [
  'openid',
  'fhirUser',
  'profile',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
] as const;

/** Search parameter types a granular scope may use: the ones access checks can evaluate exactly (see match.ts). */
const GRANULAR_PARAM_TYPES = new Set(['token', 'reference', 'string', 'uri']);

const SCOPE_PATTERN = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)(?:\?(.+))?$/;

/**
 * Parses a SMART v1 (`.read`, `.write`, `.*`) or v2 (`.cruds` subsets, granular `?param=value`) resource scope.
 * Returns undefined for anything else, including granular criteria this server cannot enforce exactly
 * (unknown parameters, unsupported parameter types, modifiers): a scope is never granted half-enforced.
 */
export function parseResourceScope(raw: string, isResourceType: (type: string) => boolean): ResourceScope | undefined {
  const m = SCOPE_PATTERN.exec(raw);
  if (!m) return undefined;
  const [, context, resourceType, perms, query] = m;
  if (resourceType !== '*' && !isResourceType(resourceType)) return undefined;
  const permissions = permissionsOf(perms);
  if (!permissions) return undefined;
  const scope: ResourceScope = { raw, context: context as ResourceScope['context'], resourceType, permissions };
  if (query !== undefined) {
    if (!/^c?r?u?d?s?$/.test(perms) || resourceType === '*') return undefined;
    const criteria = parseGranularQuery(resourceType, query);
    if (!criteria) return undefined;
    scope.criteria = criteria;
  }
  return scope;
}

function permissionsOf(perms: string): Set<Permission> | undefined {
  if (perms === 'read') return new Set(['r', 's']);
  if (perms === 'write') return new Set(['c', 'u', 'd']);
  if (perms === '*') return new Set(PERMISSION_ORDER);
  if (perms === '') return undefined;
  return new Set(perms.split('') as Permission[]);
}

function parseGranularQuery(resourceType: string, query: string): SearchCriteria | undefined {
  const params = getSearchParameters(resourceType) ?? {};
  const criteria: SearchCriteria = {};
  let entries: [string, string][];
  try {
    entries = [...new URLSearchParams(query)];
  } catch {
    return undefined;
  }
  if (entries.length === 0) return undefined;
  for (const [name, value] of entries) {
    if (name !== '_id' && !GRANULAR_PARAM_TYPES.has(params[name]?.type as string)) return undefined;
    if (value === '') return undefined;
    (criteria[name] ??= []).push(value);
  }
  return criteria;
}

/** Splits a space-separated scope string into its distinct scopes. */
export function splitScopes(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter(Boolean))];
}

/** True when `scope` is one SMART defines (context scope or a resource scope this server can enforce). */
export function isSupportedScope(scope: string, isResourceType: (type: string) => boolean): boolean {
  return (SMART_CONTEXT_SCOPES as readonly string[]).includes(scope) || !!parseResourceScope(scope, isResourceType);
}

/**
 * True when an allowed scope (a client's registered `system/*.*`, say) covers a requested one
 * (`system/Observation.rs`): same context, type `*` or equal, permissions a subset, and the allowed scope's criteria
 * (if any) repeated in the requested one.
 */
export function scopeCovers(allowed: ResourceScope, requested: ResourceScope): boolean {
  if (allowed.context !== requested.context) return false;
  if (allowed.resourceType !== '*' && allowed.resourceType !== requested.resourceType) return false;
  for (const p of requested.permissions) if (!allowed.permissions.has(p)) return false;
  for (const [name, values] of Object.entries(allowed.criteria ?? {})) {
    const given = requested.criteria?.[name] ?? [];
    if (!values.every((v) => given.includes(v))) return false;
  }
  return true;
}
