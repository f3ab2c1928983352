import { describe, expect, it } from 'vitest';
import {
  airOrOxygenScore,
  bandOf,
  consciousnessScore,
  pulseScore,
  respirationScore,
  scoreNews2,
  spo2Scale1Score,
  spo2Scale2Score,
  systolicScore,
  temperatureScore,
  type News2Values,
} from './news2-chart.ts';

/**
 * The rows of the RCP NEWS2 chart (2017, Chart 1), transcribed from the published chart: [lowest, highest, score]
 * (an open end is ±Infinity). Every row is tested at both of its edges, so every band boundary of every parameter
 * is checked from both sides.
 */
type Row = [number, number, number];
const CHART: Record<string, { rows: Row[]; score: (v: number) => number; step: number }> = {
  'respiration rate': {
    rows: [
      [-Infinity, 8, 3],
      [9, 11, 1],
      [12, 20, 0],
      [21, 24, 2],
      [25, Infinity, 3],
    ],
    score: respirationScore,
    step: 1,
  },
  'SpO2 scale 1': {
    rows: [
      [-Infinity, 91, 3],
      [92, 93, 2],
      [94, 95, 1],
      [96, Infinity, 0],
    ],
    score: spo2Scale1Score,
    step: 1,
  },
  'SpO2 scale 2 on oxygen': {
    rows: [
      [-Infinity, 83, 3],
      [84, 85, 2],
      [86, 87, 1],
      [88, 92, 0],
      [93, 94, 1],
      [95, 96, 2],
      [97, Infinity, 3],
    ],
    score: (v) => spo2Scale2Score(v, true),
    step: 1,
  },
  'SpO2 scale 2 on air': {
    rows: [
      [-Infinity, 83, 3],
      [84, 85, 2],
      [86, 87, 1],
      [88, Infinity, 0],
    ],
    score: (v) => spo2Scale2Score(v, false),
    step: 1,
  },
  'systolic BP': {
    rows: [
      [-Infinity, 90, 3],
      [91, 100, 2],
      [101, 110, 1],
      [111, 219, 0],
      [220, Infinity, 3],
    ],
    score: systolicScore,
    step: 1,
  },
  pulse: {
    rows: [
      [-Infinity, 40, 3],
      [41, 50, 1],
      [51, 90, 0],
      [91, 110, 1],
      [111, 130, 2],
      [131, Infinity, 3],
    ],
    score: pulseScore,
    step: 1,
  },
  temperature: {
    rows: [
      [-Infinity, 35.0, 3],
      [35.1, 36.0, 1],
      [36.1, 38.0, 0],
      [38.1, 39.0, 1],
      [39.1, Infinity, 2],
    ],
    score: temperatureScore,
    step: 0.1,
  },
};

describe('NEWS2 chart 1: every row of every parameter, at both edges', () => {
  for (const [name, { rows, score, step }] of Object.entries(CHART)) {
    it(name, () => {
      for (const [low, high, expected] of rows) {
        const edges = [low, high].filter(Number.isFinite);
        for (const v of edges) expect(score(v), `${name} ${v}`).toBe(expected);
        // Open ends: far beyond the last boundary still scores the row.
        if (!Number.isFinite(low)) expect(score(high - 20 * step)).toBe(expected);
        if (!Number.isFinite(high)) expect(score(low + 20 * step)).toBe(expected);
      }
      // Adjacent rows meet: the highest of one row and the lowest of the next are one chart step apart.
      for (let i = 1; i < rows.length; i++) expect(Number((rows[i][0] - rows[i - 1][1]).toFixed(1))).toBe(step);
    });
  }

  it('values between chart rows are rounded as they would be charted', () => {
    expect(pulseScore(90.4)).toBe(0);
    expect(pulseScore(90.5)).toBe(1);
    expect(respirationScore(8.4)).toBe(3);
    expect(temperatureScore(35.04)).toBe(3);
    expect(temperatureScore(35.05)).toBe(1);
    expect(temperatureScore(38.04)).toBe(0);
  });

  it('air or oxygen and consciousness (ACVPU)', () => {
    expect(airOrOxygenScore(false)).toBe(0);
    expect(airOrOxygenScore(true)).toBe(2);
    expect(consciousnessScore('alert')).toBe(0);
    for (const level of ['confusion', 'voice', 'pain', 'unresponsive'] as const)
      expect(consciousnessScore(level)).toBe(3);
  });
});

const NORMAL: News2Values = {
  respirationRate: 16,
  spo2: 97,
  onOxygen: false,
  systolicBp: 120,
  pulse: 70,
  consciousness: 'alert',
  temperature: 37,
  scale2: false,
};

describe('NEWS2 chart 2: aggregate bands', () => {
  it('0 is low; 1–4 low; 5–6 medium; 7 and above high (every total from 0 to 20)', () => {
    for (let total = 0; total <= 20; total++) {
      const expected = total >= 7 ? 'high' : total >= 5 ? 'medium' : 'low';
      // Made of 1s and 2s only, so no single parameter scores 3.
      const parts = Array.from({ length: 7 }, (_, i) => Math.max(0, Math.min(2, total - 2 * i)));
      if (parts.reduce((a, b) => a + b, 0) === total) expect(bandOf(total, parts), `total ${total}`).toBe(expected);
    }
    expect(bandOf(0, [0, 0, 0, 0, 0, 0, 0])).toBe('low');
    expect(bandOf(4, [2, 2, 0, 0, 0, 0, 0])).toBe('low');
    expect(bandOf(5, [2, 2, 1, 0, 0, 0, 0])).toBe('medium');
    expect(bandOf(6, [2, 2, 2, 0, 0, 0, 0])).toBe('medium');
    expect(bandOf(7, [2, 2, 2, 1, 0, 0, 0])).toBe('high');
  });

  it('a 3 in any one parameter with a total of 3 or 4 is low-medium; at 5 or more the total decides', () => {
    expect(bandOf(3, [3, 0, 0, 0, 0, 0, 0])).toBe('low-medium');
    expect(bandOf(4, [3, 1, 0, 0, 0, 0, 0])).toBe('low-medium');
    expect(bandOf(5, [3, 2, 0, 0, 0, 0, 0])).toBe('medium');
    expect(bandOf(7, [3, 3, 1, 0, 0, 0, 0])).toBe('high');
  });

  it('scores whole patients: each parameter alone raising the score, and combinations', () => {
    expect(scoreNews2(NORMAL)).toEqual({
      total: 0,
      band: 'low',
      subScores: {
        'respiration-rate': 0,
        spo2: 0,
        'air-or-oxygen': 0,
        'systolic-bp': 0,
        pulse: 0,
        consciousness: 0,
        temperature: 0,
      },
    });
    expect(scoreNews2({ ...NORMAL, consciousness: 'confusion' })).toMatchObject({ total: 3, band: 'low-medium' });
    expect(scoreNews2({ ...NORMAL, respirationRate: 7 })).toMatchObject({ total: 3, band: 'low-medium' });
    expect(scoreNews2({ ...NORMAL, systolicBp: 221 })).toMatchObject({ total: 3, band: 'low-medium' });
    expect(scoreNews2({ ...NORMAL, onOxygen: true, pulse: 95 })).toMatchObject({ total: 3, band: 'low' });
    // The end-to-end reading of issue 18: SpO2 88 % and respiration rate 26 on air → 3 + 3.
    expect(scoreNews2({ ...NORMAL, spo2: 88, respirationRate: 26 })).toMatchObject({ total: 6, band: 'medium' });
    expect(scoreNews2({ ...NORMAL, spo2: 88, respirationRate: 26, pulse: 95 })).toMatchObject({
      total: 7,
      band: 'high',
    });
    const worst = scoreNews2({
      respirationRate: 40,
      spo2: 80,
      onOxygen: true,
      systolicBp: 70,
      pulse: 150,
      consciousness: 'unresponsive',
      temperature: 34,
      scale2: false,
    });
    expect(worst.total).toBe(20);
  });

  it('scale 2: 88–92 % scores 0 where scale 1 gives 3; on oxygen a high SpO2 scores on scale 2 only', () => {
    expect(scoreNews2({ ...NORMAL, spo2: 89, scale2: true }).subScores.spo2).toBe(0);
    expect(scoreNews2({ ...NORMAL, spo2: 89, scale2: false }).subScores.spo2).toBe(3);
    const overOxygenated = scoreNews2({ ...NORMAL, spo2: 98, onOxygen: true, scale2: true });
    expect(overOxygenated.subScores).toMatchObject({ spo2: 3, 'air-or-oxygen': 2 });
    expect(overOxygenated).toMatchObject({ total: 5, band: 'medium' });
    expect(scoreNews2({ ...NORMAL, spo2: 98, onOxygen: true, scale2: false }).subScores.spo2).toBe(0);
  });
});
