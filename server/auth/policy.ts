import type { Permission } from './scopes.ts';

/** Roles of users and identities that hold `user/` scopes. */
export type Role = 'admin' | 'practitioner' | 'patient' | 'device' | 'bot';

export const ROLES: readonly Role[] = ['admin', 'practitioner', 'patient', 'device', 'bot'];

/** One rule of an access policy: permissions on some types, optionally only inside the user's own compartment. */
export interface PolicyRule {
  /** Resource types, or `*` for all. */
  types: '*' | readonly string[];
  permissions: readonly Permission[];
  /** Only resources in the Patient compartment of the user's own patient (patients, related persons). */
  ownCompartment?: boolean;
}

const ALL: Permission[] = ['c', 'r', 'u', 'd', 's'];
const READ: Permission[] = ['r', 's'];

/**
 * What each role may do with `user/` scopes; a token's access is the intersection of its scopes and this policy.
 * Deliberately small: a later issue can load policies from resources (e.g. a practitioner sees the patients of their
 * organization) without changing how they are enforced (access.ts turns rules into criteria).
 */
export const ROLE_POLICIES: Record<Role, readonly PolicyRule[]> = {
  admin: [{ types: '*', permissions: ALL }],
  practitioner: [{ types: '*', permissions: ALL }],
  patient: [
    { types: '*', permissions: READ, ownCompartment: true },
    { types: ['QuestionnaireResponse', 'Communication', 'Observation'], permissions: ['c', 'u'], ownCompartment: true },
  ],
  device: [
    { types: ['Observation', 'Device', 'DeviceMetric', 'Media'], permissions: ['c', 'r', 'u', 's'] },
    { types: ['Patient'], permissions: READ },
  ],
  bot: [{ types: '*', permissions: ALL }],
};
