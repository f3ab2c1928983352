import type { Resource } from '@medplum/fhirtypes';
import { loadDefinitions } from '../fhir/definitions.ts';
import type { AccessContext, SearchCriteria } from '../core/types.ts';
import {
  inPatientCompartment,
  patientCompartmentCriteria,
  SHARED_REFERENCE_TYPES,
  staysInPatientCompartment,
} from './compartment.ts';
import { matchesAny } from './match.ts';
import { ROLE_POLICIES, type Role } from './policy.ts';
import { parseResourceScope, splitScopes, type Permission, type ResourceScope } from './scopes.ts';

/** What a validated access token says about its holder (server/auth/bearer.ts builds it from the token store). */
export interface TokenIdentity {
  clientId: string;
  /** Granted scopes, space-separated. */
  scope: string;
  /** Launch context: the patient `patient/` scopes are confined to. */
  patient?: string;
  encounter?: string;
  /** The user's FHIR resource (`Practitioner/1`, `Patient/2`, `RelatedPerson/3`), absent for backend clients. */
  fhirUser?: string;
  /** The user's role; `user/` scopes are limited by its policy. Absent for backend clients. */
  role?: Role;
  /** For patient and related-person users: the patient whose compartment is theirs. */
  ownPatient?: string;
}

/** Criteria alternatives: undefined = every resource of the type, [] = none. */
type Where = SearchCriteria[] | undefined;

/**
 * One alternative a grant reaches: search criteria, and for a grant confined to a patient's compartment that patient
 * (what such a grant writes must stay inside that compartment alone).
 */
interface Reach {
  criteria: SearchCriteria;
  patient?: string;
}

/** Reach alternatives: undefined = every resource of the type, [] = none. */
type Reaches = Reach[] | undefined;

/** One way a token reaches resources: a scope, resolved against its context (launch patient, user role). */
type Grant = (permission: Permission, resourceType: string) => Reaches;

const NONE: Reach[] = [];

/**
 * The AccessContext of a SMART token: which interactions it may perform on which types (`permits`) and which resources
 * it reaches (`visibleWhere` for reads, `whereFor` for each permission), as search criteria the store and search
 * engine AND into their SQL. `patient/` scopes are confined to the launch patient's compartment, `user/` scopes to the
 * user's role policy, `system/` scopes (backend services) are not confined; granular `?param=value` criteria are
 * ANDed into whatever the scope reaches. Writes (`mayWrite`) under a compartment-confined grant must also leave the
 * resource in that compartment alone.
 */
export class ScopedAccess implements AccessContext {
  readonly kind: AccessContext['kind'];
  readonly actor?: string;
  readonly clientId: string;
  readonly scopes: string[];
  readonly patient?: string;
  readonly encounter?: string;
  private readonly grants: Grant[];

  constructor(readonly identity: TokenIdentity) {
    this.clientId = identity.clientId;
    this.scopes = splitScopes(identity.scope);
    this.patient = identity.patient;
    this.encounter = identity.encounter;
    this.actor = identity.fhirUser;
    this.kind = kindOf(identity);
    const isType = (t: string) => loadDefinitions().resourceTypeSet.has(t);
    this.grants = this.scopes
      .map((s) => parseResourceScope(s, isType))
      .filter((s): s is ResourceScope => !!s)
      .map((s) => grantOf(s, identity))
      .filter((g): g is Grant => !!g);
  }

  /** The resources of a type this token may act on with `permission` (undefined: all of them; []: none). */
  whereFor(permission: Permission, resourceType: string): Where {
    return this.reaches(permission, resourceType)?.map((r) => r.criteria);
  }

  /**
   * Whether the token may create, update or delete this resource (a version written or replaced): it must match one
   * of the permission's alternatives, and under a compartment-confined grant stay inside that patient's compartment
   * alone (no compartment parameter may name another patient; compartment.ts).
   */
  mayWrite(permission: 'c' | 'u' | 'd', resource: Resource): boolean {
    const reaches = this.reaches(permission, resource.resourceType);
    if (reaches === undefined) return true;
    return reaches.some(
      (r) =>
        matchesAny(resource, [r.criteria]) &&
        (r.patient === undefined || staysInPatientCompartment(resource, r.patient)),
    );
  }

  /** True when the token may perform `permission` on at least some resources of the type. */
  permits(permission: Permission, resourceType: string): boolean {
    const where = this.whereFor(permission, resourceType);
    return where === undefined || where.length > 0;
  }

  private reaches(permission: Permission, resourceType: string): Reaches {
    const alternatives: Reach[] = [];
    for (const grant of this.grants) {
      const reaches = grant(permission, resourceType);
      if (reaches === undefined) return undefined;
      alternatives.push(...reaches);
    }
    return alternatives;
  }

  /** Resources of a type the token may see: those it may read or search. */
  visibleWhere(resourceType: string): Where {
    const read = this.whereFor('r', resourceType);
    const search = this.whereFor('s', resourceType);
    if (read === undefined || search === undefined) return undefined;
    const distinct = new Map([...read, ...search].map((alt) => [JSON.stringify(alt), alt]));
    return [...distinct.values()];
  }
}

function kindOf(identity: TokenIdentity): AccessContext['kind'] {
  switch (identity.role) {
    case undefined:
      return 'system';
    case 'patient':
      return 'patient';
    case 'device':
      return 'device';
    case 'bot':
      return 'bot';
    default:
      return 'user';
  }
}

function grantOf(scope: ResourceScope, identity: TokenIdentity): Grant | undefined {
  const covers = (permission: Permission, type: string) =>
    scope.permissions.has(permission) && (scope.resourceType === '*' || scope.resourceType === type);
  switch (scope.context) {
    case 'patient': {
      const patient = identity.patient;
      if (!patient) return undefined;
      return (p, type) => (covers(p, type) ? and(patientScopeReaches(p, type, patient), scope.criteria) : NONE);
    }
    case 'user': {
      if (!identity.role) return undefined;
      const rules = ROLE_POLICIES[identity.role];
      return (p, type) => {
        if (!covers(p, type)) return NONE;
        const out: Reach[] = [];
        for (const rule of rules) {
          if (!rule.permissions.includes(p) || (rule.types !== '*' && !rule.types.includes(type))) continue;
          if (!rule.ownCompartment) return and(undefined, scope.criteria);
          if (!identity.ownPatient) continue;
          const own = patientScopeReaches(p, type, identity.ownPatient);
          if (own === undefined) return and(undefined, scope.criteria);
          out.push(...own);
        }
        return and(out, scope.criteria);
      };
    }
    case 'system':
      if (identity.role) return undefined;
      return (p, type) => (covers(p, type) ? and(undefined, scope.criteria) : NONE);
  }
}

/** What a patient-confined permission reaches: the compartment; shared reference types are readable, never writable. */
function patientScopeReaches(p: Permission, type: string, patient: string): Reaches {
  if (inPatientCompartment(type))
    return patientCompartmentCriteria(type, patient).map((criteria) => ({ criteria, patient }));
  if (SHARED_REFERENCE_TYPES.has(type) && (p === 'r' || p === 's')) return undefined;
  return NONE;
}

/** ANDs granular criteria into each alternative (repeated parameters AND in SearchCriteria). */
function and(reaches: Reaches, criteria: SearchCriteria | undefined): Reaches {
  if (!criteria) return reaches;
  if (reaches === undefined) return [{ criteria }];
  return reaches.map((alt) => {
    const merged: SearchCriteria = { ...alt.criteria };
    for (const [k, v] of Object.entries(criteria)) merged[k] = [...(merged[k] ?? []), ...v];
    return { ...alt, criteria: merged };
  });
}
