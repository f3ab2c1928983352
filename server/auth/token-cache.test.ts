import { describe, expect, it } from 'vitest';
import { TokenCache } from './token-cache.ts';

type Access = { clientId: string; n: number };

/** A lookup the test finishes by hand, counting how often it was started. */
function controlledLookup() {
  let started = 0;
  const finishers: ((a: Access) => void)[] = [];
  return {
    started: () => started,
    resolve: () => {
      started++;
      return new Promise<Access>((done) => finishers.push(done));
    },
    finish: (a: Access) => finishers.splice(0).forEach((f) => f(a)),
  };
}

describe('TokenCache.shared', () => {
  it('resolves a token once for all callers asking at the same time', async () => {
    const cache = new TokenCache<Access>();
    const lookup = controlledLookup();
    const answers = Array.from({ length: 16 }, () => cache.shared('t', lookup.resolve));
    expect(lookup.started()).toBe(1);
    lookup.finish({ clientId: 'c', n: 1 });
    expect((await Promise.all(answers)).every((a) => a.n === 1)).toBe(true);
    // finished: the next miss looks the token up again
    const again = cache.shared('t', lookup.resolve);
    expect(lookup.started()).toBe(2);
    lookup.finish({ clientId: 'c', n: 2 });
    expect((await again).n).toBe(2);
  });

  it('does not let a caller after an invalidation share a lookup that started before it', async () => {
    const cache = new TokenCache<Access>();
    const lookup = controlledLookup();
    const before = cache.shared('t', lookup.resolve);
    cache.invalidate('c');
    const after = cache.shared('t', lookup.resolve);
    expect(lookup.started()).toBe(2);
    lookup.finish({ clientId: 'c', n: 1 });
    await Promise.all([before, after]);
  });

  it('passes a failed lookup to every waiting caller, and tries again afterwards', async () => {
    const cache = new TokenCache<Access>();
    let calls = 0;
    const failing = () => {
      calls++;
      return Promise.reject(new Error('unknown token'));
    };
    const results = await Promise.allSettled([cache.shared('t', failing), cache.shared('t', failing)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
    await expect(cache.shared('t', failing)).rejects.toThrow('unknown token');
    expect(calls).toBe(2);
  });
});
