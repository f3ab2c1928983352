/**
 * A short-lived cache of resolved access tokens, so the FHIR hot path does not read the token store on every request.
 * An entry lives at most `ttlMs` and never past the token's own expiry. Revocations and client deletions are not
 * waited out: they invalidate the client's entries at once, on this node directly and on every other node through
 * the revocation feed (revocations.ts); while that feed is down nothing is cached. A resolution that started before
 * an invalidation is not cached (its `ticket` is stale), so a token read just before its revocation cannot be
 * cached after it. Hand-written: a bounded Map in insertion order is all it needs.
 */
export class TokenCache<Access extends { clientId: string }> {
  private readonly entries = new Map<string, { access: Access; until: number }>();
  private readonly inFlight = new Map<string, Promise<Access>>();
  private generation = 0;
  private suspended = false;

  constructor(
    private readonly ttlMs = 5_000,
    private readonly maxEntries = 10_000,
  ) {}

  get(token: string): Access | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.until > Date.now()) return entry.access;
    this.entries.delete(token);
    return undefined;
  }

  /** Taken before a token is resolved and passed to `set`: the result is cached only if nothing was invalidated since. */
  ticket(): number {
    return this.generation;
  }

  /** Caches a resolved token; `expiresAt` is the token's expiry in epoch seconds. */
  set(token: string, access: Access, expiresAt: number, ticket: number): void {
    if (this.suspended || ticket !== this.generation) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(token, { access, until: Math.min(Date.now() + this.ttlMs, expiresAt * 1000) });
  }

  /**
   * Runs `resolve` once for every caller asking for the same token meanwhile. An invalidation forgets the lookups in
   * flight too, so a request arriving after a revocation never shares a lookup that started before it.
   */
  shared(token: string, resolve: () => Promise<Access>): Promise<Access> {
    const running = this.inFlight.get(token);
    if (running) return running;
    const lookup = resolve().finally(() => {
      if (this.inFlight.get(token) === lookup) this.inFlight.delete(token);
    });
    this.inFlight.set(token, lookup);
    return lookup;
  }

  /** Forgets the tokens of one client (a token of it was revoked, or it was deleted), or every token (`*`). */
  invalidate(clientId: string): void {
    this.generation++;
    this.inFlight.clear();
    if (clientId === '*') return this.entries.clear();
    for (const [token, entry] of this.entries) if (entry.access.clientId === clientId) this.entries.delete(token);
  }

  /** Stops caching (and forgets everything) until `resume`: revocations from other nodes cannot be heard meanwhile. */
  suspend(): void {
    this.suspended = true;
    this.invalidate('*');
  }

  resume(): void {
    this.suspended = false;
  }
}
