import { describe, expect, it } from 'vitest';
import { checkedParticipants, instantMs, intervalOf, overlaps, type Interval } from '../intervals.ts';

/** A small seeded generator, so a failing case can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The reference definition: two intervals overlap when some minute lies in both. */
function sharesAMinute(a: Interval, b: Interval): boolean {
  for (let t = a.start; t < a.end; t += 60_000) if (t >= b.start && t < b.end) return true;
  return false;
}

describe('overlap of half-open intervals', () => {
  it('agrees with minute-by-minute membership on 5,000 random pairs (touching ones included)', () => {
    const next = random(19);
    const minute = () => Math.floor(next() * 240) * 60_000;
    let touching = 0;
    for (let i = 0; i < 5000; i++) {
      const a = { start: minute(), end: 0 };
      a.end = a.start + (1 + Math.floor(next() * 60)) * 60_000;
      const b = { start: next() < 0.2 ? a.end : minute(), end: 0 };
      b.end = b.start + (1 + Math.floor(next() * 60)) * 60_000;
      if (b.start === a.end) touching++;
      expect(overlaps(a, b)).toBe(sharesAMinute(a, b));
      expect(overlaps(a, b)).toBe(overlaps(b, a));
    }
    expect(touching).toBeGreaterThan(500);
  });

  it('back-to-back appointments do not overlap, whatever offsets they are written in', () => {
    const first = intervalOf({ start: '2026-03-29T09:00:00+02:00', end: '2026-03-29T09:30:00+02:00' })!;
    const second = intervalOf({ start: '2026-03-29T07:30:00Z', end: '2026-03-29T08:00:00Z' })!;
    expect(overlaps(first, second)).toBe(false);
    const third = intervalOf({ start: '2026-03-29T02:29:00-05:00', end: '2026-03-29T03:00:00-05:00' })!;
    expect(overlaps(first, third)).toBe(true);
  });

  it('across a DST change, the instants decide, not the wall clock', () => {
    // Europe/Paris, 2026-10-25: 02:00-03:00 happens twice (+02:00, then +01:00)
    const before = intervalOf({ start: '2026-10-25T02:15:00+02:00', end: '2026-10-25T02:45:00+02:00' })!;
    const after = intervalOf({ start: '2026-10-25T02:15:00+01:00', end: '2026-10-25T02:45:00+01:00' })!;
    expect(overlaps(before, after)).toBe(false);
    expect(after.start - before.start).toBe(3600_000);
    // spring forward 2026-03-29: 01:30+01:00 to 03:30+02:00 is one hour
    const spring = intervalOf({ start: '2026-03-29T01:30:00+01:00', end: '2026-03-29T03:30:00+02:00' })!;
    expect(spring.end - spring.start).toBe(3600_000);
  });

  it('times without a zone, or dates, are not instants', () => {
    expect(instantMs('2026-03-29T09:00:00')).toBeUndefined();
    expect(instantMs('2026-03-29')).toBeUndefined();
    expect(instantMs('2026-13-29T09:00:00Z')).toBeUndefined();
    expect(instantMs('2026-03-29T09:00:00Z\u0000')).toBeUndefined();
    expect(intervalOf({ start: '2026-03-29T09:00:00Z' })).toBeUndefined();
  });
});

describe('participants checked for double booking', () => {
  it('people and places, sorted and once each; not devices, declined ones or foreign references', () => {
    expect(
      checkedParticipants({
        participant: [
          { actor: { reference: 'Practitioner/b' }, status: 'accepted' },
          { actor: { reference: 'Patient/a' }, status: 'accepted' },
          { actor: { reference: 'Location/r1' }, status: 'accepted' },
          { actor: { reference: 'Practitioner/b' }, status: 'tentative' },
          { actor: { reference: 'Device/x' }, status: 'accepted' },
          { actor: { reference: 'Practitioner/declines' }, status: 'declined' },
          { actor: { reference: 'http://other.example/Patient/1' }, status: 'accepted' },
          { actor: { display: 'no reference' }, status: 'accepted' },
        ],
      }),
    ).toEqual(['Location/r1', 'Patient/a', 'Practitioner/b']);
  });
});
