import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { outcome } from '../fhir/outcomes.ts';
import { sendResponse } from '../http/fhir-endpoint.ts';
import { header } from '../http/request-info.ts';
import type { AccessContext } from '../core/types.ts';
import type { Accounts } from './accounts.ts';
import { ScopedAccess, type TokenIdentity } from './access.ts';
import type { TokenCache } from './token-cache.ts';

/** FHIR paths anyone may read without a token (SMART discovery needs them before it has one). */
const PUBLIC_PATHS = new Set(['metadata', '.well-known/smart-configuration']);

/** Access of an anonymous caller on a public path: nothing beyond it (the guard lets public paths through). */
const ANONYMOUS: AccessContext = { kind: 'user', permits: () => false, whereFor: () => [], visibleWhere: () => [] };

/** Why a bearer token was refused. */
class InvalidToken extends Error {}

/** The access of a bearer token, tied to the token it came from (websocket bindings end with it). */
export class TokenAccess extends ScopedAccess {
  constructor(
    identity: TokenIdentity,
    readonly credential: { token: string; expiresAt: number },
  ) {
    super(identity);
  }
}

/**
 * Resolves a bearer token to the AccessContext of its holder: an opaque access token (authorization code or client
 * credentials) issued by our provider for the FHIR base, unexpired and not revoked, whose client and user (if any)
 * still exist. Results are cached briefly (`cache`); revocations and deletions invalidate the cache at once.
 */
export async function accessOfToken(
  provider: Provider,
  accounts: Accounts,
  fhirBase: string,
  value: string,
  cache?: TokenCache<TokenAccess>,
): Promise<TokenAccess> {
  if (!cache) return lookUpToken(provider, accounts, fhirBase, value);
  const cached = cache.get(value);
  if (cached) return cached;
  // Requests arriving together with one token share one lookup (16 connections meant 16 lookups at each expiry).
  return cache.shared(value, async () => {
    const ticket = cache.ticket();
    const access = await lookUpToken(provider, accounts, fhirBase, value);
    cache.set(value, access, access.credential.expiresAt, ticket);
    return access;
  });
}

/** Reads a token from the token store and checks it (accessOfToken without the cache). */
async function lookUpToken(
  provider: Provider,
  accounts: Accounts,
  fhirBase: string,
  value: string,
): Promise<TokenAccess> {
  const token = (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value));
  if (!token || token.isExpired) throw new InvalidToken('The access token is unknown, expired or revoked');
  const aud = Array.isArray(token.aud) ? token.aud : [token.aud];
  if (!aud.includes(fhirBase)) throw new InvalidToken('The access token was not issued for this FHIR server');
  if (!(await provider.Client.find(token.clientId as string)))
    throw new InvalidToken('The access token belongs to a client that no longer exists');
  const extra = (token.extra ?? {}) as { patient?: string; encounter?: string };
  const accountId = 'accountId' in token ? token.accountId : undefined;
  const account = accountId ? await accounts.find(accountId) : undefined;
  if (accountId && !account) throw new InvalidToken('The access token belongs to an account that no longer exists');
  const identity: TokenIdentity = {
    clientId: token.clientId as string,
    scope: token.scope ?? '',
    patient: extra.patient,
    encounter: extra.encounter,
    fhirUser: account?.fhirUser,
    role: account?.role,
    ownPatient: account?.patient,
  };
  return new TokenAccess(identity, { token: value, expiresAt: token.exp ?? 0 });
}

/**
 * Authenticates FHIR requests: `Authorization: Bearer <token>` → the holder's AccessContext. Missing or invalid
 * tokens get 401 with `WWW-Authenticate` (RFC 6750) and an OperationOutcome (then it returns undefined); public paths
 * (CapabilityStatement, SMART configuration) pass without a token.
 */
export function bearerAuthentication(opts: {
  resolve: (token: string) => Promise<AccessContext>;
  realm: () => string;
  /** Told about every refused request (for the audit trail). */
  onRefused?: (req: IncomingMessage, reason: string) => void;
}) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<AccessContext | undefined> => {
    const authorization = header(req, 'authorization');
    const path = (req.url ?? '')
      .split('?')[0]
      .replace(/^\/fhir/, '')
      .replace(/^\/+|\/+$/g, '');
    if (!authorization && PUBLIC_PATHS.has(path) && (req.method === 'GET' || req.method === 'HEAD')) return ANONYMOUS;
    const m = /^Bearer\s+([\x21-\x7e]+)$/i.exec(authorization ?? '');
    if (!m) {
      const reason = authorization ? 'Malformed Authorization header' : 'An access token is required';
      opts.onRefused?.(req, reason);
      refuse(res, opts.realm(), authorization ? 'invalid_request' : undefined, reason);
      return undefined;
    }
    try {
      return await opts.resolve(m[1]);
    } catch (err) {
      if (!(err instanceof InvalidToken)) throw err;
      opts.onRefused?.(req, err.message);
      refuse(res, opts.realm(), 'invalid_token', err.message);
      return undefined;
    }
  };
}

function refuse(res: ServerResponse, realm: string, error: string | undefined, description: string): void {
  const params = [`realm="${realm}"`];
  if (error) params.push(`error="${error}"`, `error_description="${description.replace(/"/g, "'")}"`);
  res.setHeader('WWW-Authenticate', `Bearer ${params.join(', ')}`);
  sendResponse(res, { status: 401, resource: outcome('error', 'login', description) }, 'json', false, {});
}
