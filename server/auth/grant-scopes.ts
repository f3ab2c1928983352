import type { Client, KoaContextWithOIDC } from 'oidc-provider';
import { loadDefinitions } from '../fhir/definitions.ts';
import {
  isSupportedScope,
  parseResourceScope,
  scopeCovers,
  SMART_CONTEXT_SCOPES,
  splitScopes,
  type ResourceScope,
} from './scopes.ts';

const isType = (t: string) => loadDefinitions().resourceTypeSet.has(t);

/**
 * The scopes of the current token request a client may be granted at the FHIR endpoint (oidc-provider calls this the
 * resource server's scope, and issues only scopes it lists). SMART scopes are dynamic (`patient/Observation.rs?…`),
 * so the list is computed from what is being requested: every supported scope the client is allowed.
 * - `system/` scopes only for confidential clients using client_credentials, and only as registered; `patient/`,
 *   `user/` never there.
 * - A client registered with `scope` gets only scopes that a registered one covers (`system/*.*` covers
 *   `system/Observation.rs`); a client without it may ask for any SMART scope (the user consents).
 */
export function grantableScopes(ctx: KoaContextWithOIDC, client: Client): string[] {
  const entities = ctx.oidc.entities as Record<string, { scope?: string } | undefined>;
  const params = ctx.oidc.params as Record<string, unknown> | undefined;
  const requested = new Set([
    ...splitScopes(params?.scope as string | undefined),
    ...splitScopes(entities.AuthorizationCode?.scope),
    ...splitScopes(entities.RefreshToken?.scope),
  ]);
  const clientCredentials = params?.grant_type === 'client_credentials';
  const registered = registeredScopes(client);
  const restricted = registered.length > 0;
  const allowedResource = registered.map((s) => parseResourceScope(s, isType)).filter((s): s is ResourceScope => !!s);
  return [...requested].filter((scope) => {
    if ((SMART_CONTEXT_SCOPES as readonly string[]).includes(scope)) {
      return !clientCredentials && (!restricted || registered.includes(scope));
    }
    const parsed = parseResourceScope(scope, isType);
    if (!parsed) return false;
    if ((parsed.context === 'system') !== clientCredentials) return false;
    if (parsed.context === 'system' && client.clientAuthMethod === 'none') return false;
    // system/ scopes reach everything: only ever granted as far as the client's registration says
    if (parsed.context === 'system' && !restricted) return false;
    return !restricted || allowedResource.some((allowed) => scopeCovers(allowed, parsed));
  });
}

/** Scopes oidc-provider knows itself (OIDC); a client's `scope` metadata may only hold these. */
export const OIDC_SCOPES = ['openid', 'offline_access', 'fhirUser', 'profile'];

/**
 * The scopes a client registered: oidc-provider only accepts its own (OIDC) scopes in the standard `scope` metadata,
 * so the SMART ones a client registers are kept in `smart_scope` (see normalizeClientScopes).
 */
export function registeredScopes(client: Client): string[] {
  return [...splitScopes(client.scope), ...splitScopes(client['smart_scope'] as string | undefined)];
}

/**
 * Splits registered client metadata's `scope` into what oidc-provider accepts (`scope`: OIDC scopes) and the SMART
 * scopes (`smart_scope`); throws for a scope that is neither, so a client never registers a scope we cannot enforce.
 */
export function normalizeClientScopes<T extends { scope?: string; smart_scope?: string }>(metadata: T): T {
  const all = [...splitScopes(metadata.scope), ...splitScopes(metadata.smart_scope)];
  if (all.length === 0) return metadata;
  const unknown = all.filter((s) => !OIDC_SCOPES.includes(s) && !isSupportedScope(s, isType));
  if (unknown.length) throw new InvalidClientMetadataError(`unsupported scope: ${unknown.join(' ')}`);
  const oidc = all.filter((s) => OIDC_SCOPES.includes(s));
  const smart = all.filter((s) => !OIDC_SCOPES.includes(s));
  const out = { ...metadata };
  if (oidc.length) out.scope = oidc.join(' ');
  else delete out.scope;
  if (smart.length) out.smart_scope = smart.join(' ');
  else delete out.smart_scope;
  return out;
}

/** Client metadata that cannot be accepted (RFC 7591 `invalid_client_metadata`). */
export class InvalidClientMetadataError extends Error {
  readonly error = 'invalid_client_metadata';
  get error_description(): string {
    return this.message;
  }
}
