import type { ScopedAccess } from './access.ts';

/**
 * A short-lived cache of resolved access tokens, so the FHIR hot path does not read the token store on every request.
 * An entry lives at most `ttlMs` and never past the token's own expiry; revocations on this node clear the cache at
 * once (other nodes notice within `ttlMs`). Hand-written: a bounded Map in insertion order is all it needs.
 */
export class TokenCache {
  private readonly entries = new Map<string, { access: ScopedAccess; until: number }>();

  constructor(
    private readonly ttlMs = 5_000,
    private readonly maxEntries = 10_000,
  ) {}

  get(token: string): ScopedAccess | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.until > Date.now()) return entry.access;
    this.entries.delete(token);
    return undefined;
  }

  /** Caches a resolved token; `expiresAt` is the token's expiry in epoch seconds. */
  set(token: string, access: ScopedAccess, expiresAt: number): void {
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(token, { access, until: Math.min(Date.now() + this.ttlMs, expiresAt * 1000) });
  }

  clear(): void {
    this.entries.clear();
  }
}
