import express from 'express';
import type { AccessContext } from '../core/types.ts';
import { createAccessGuard } from './enforce.ts';
import type { AuthServer } from './types.ts';

const SYSTEM_ACCESS: AccessContext = { kind: 'system' };

/** `AUTH=off`: every FHIR request runs with full system access; no OAuth routes, no audit trail. */
export function authOff(): AuthServer {
  return {
    routes: express.Router(),
    admit: async () => SYSTEM_ACCESS,
    // Requests carry SYSTEM_ACCESS (no `permits`), which the guard passes untouched; in-process identities with
    // scopes of their own (bots) stay confined to them.
    guard: createAccessGuard(),
    requireAdmin: (_req, _res, next) => next(),
    resolveAccess: async () => SYSTEM_ACCESS,
    onRevoked: () => {},
    audit: undefined,
    security: () => undefined,
    start: async () => {},
    rotateKeys: async () => {},
    close: async () => {},
  };
}
