import type { Goal, Observation } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { assembleInputs, readValue, usesScale2 } from './news2-inputs.ts';
import { NORMAL_VITALS, vitalObservations } from './news2-vitals.ts';

const NOW = new Date();
const DAY = 24 * 3_600_000;
const withIds = (obs: Observation[], prefix: string) => obs.map((o, i) => ({ ...o, id: `${prefix}${i}` }));
const normal = (minutesAgo = 0, prefix = 'n') =>
  withIds(vitalObservations('Patient/p', NORMAL_VITALS, minutesAgo), prefix);
const quantity = (code: string, value: number, unit?: string): Observation => ({
  resourceType: 'Observation',
  id: `${code}-${value}`,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  effectiveDateTime: NOW.toISOString(),
  valueQuantity: { value, unit, code: unit },
});
const spo2Goal = (high: number, lifecycleStatus: Goal['lifecycleStatus'] = 'active'): Goal => ({
  resourceType: 'Goal',
  lifecycleStatus,
  description: { text: 'SpO2 target' },
  subject: { reference: 'Patient/p' },
  target: [
    {
      measure: { coding: [{ system: 'http://loinc.org', code: '2708-6' }] },
      detailRange: { low: { value: 88 }, high: { value: high } },
    },
  ],
});

describe('NEWS2 inputs', () => {
  it('a complete set within the window gives the seven values', () => {
    const got = assembleInputs(normal(), [], NOW, DAY);
    expect(got.missing).toEqual([]);
    expect(got.stale).toEqual([]);
    expect(got.values).toEqual({
      respirationRate: 16,
      spo2: 97,
      onOxygen: false,
      systolicBp: 120,
      pulse: 70,
      consciousness: 'alert',
      temperature: 37,
      scale2: false,
    });
  });

  it('the newest reading of each parameter wins, whatever the order given', () => {
    const older = normal(60, 'old');
    const newer = withIds(vitalObservations('Patient/p', { pulse: 120 }, 5), 'new');
    expect(assembleInputs([...newer, ...older], [], NOW, DAY).values?.pulse).toBe(120);
    expect(assembleInputs([...older, ...newer], [], NOW, DAY).values?.pulse).toBe(120);
  });

  it('stale: the newest reading is older than the window; missing: none at all; neither is guessed', () => {
    const obs = normal().filter((o) => o.code.coding?.[0].code !== '8310-5' && o.code.coding?.[0].code !== '8867-4');
    const oldPulse = withIds(vitalObservations('Patient/p', { pulse: 70 }, 24 * 60 + 1), 'p');
    const got = assembleInputs([...obs, ...oldPulse], [], NOW, DAY);
    expect(got.values).toBeUndefined();
    expect(got.missing).toEqual([{ parameter: 'temperature', reason: 'no Observation' }]);
    expect(got.stale.map((s) => [s.parameter, s.observation.id])).toEqual([['pulse', 'p0']]);
    // Just inside the window it counts.
    const inside = withIds(vitalObservations('Patient/p', { pulse: 70, temp: 37 }, 24 * 60 - 1), 'q');
    expect(assembleInputs([...obs, ...inside], [], NOW, DAY).values).toBeDefined();
  });

  it('oxygen: flow > 0 L/min or concentration > 21 %; the newest of the two decides', () => {
    expect(readValue('air-or-oxygen', quantity('3151-8', 0, 'L/min'))).toEqual({ value: false });
    expect(readValue('air-or-oxygen', quantity('3151-8', 0.5, 'L/min'))).toEqual({ value: true });
    expect(readValue('air-or-oxygen', quantity('3150-0', 21, '%'))).toEqual({ value: false });
    expect(readValue('air-or-oxygen', quantity('3150-0', 28, '%'))).toEqual({ value: true });
    expect(readValue('air-or-oxygen', quantity('3150-0', 0.28, '1'))).toEqual({ value: true });
  });

  it('units: °F converted, an unknown or absent temperature unit and implausible values are reported', () => {
    expect(readValue('temperature', quantity('8310-5', 98.6, '[degF]'))).toEqual({ value: 37 });
    expect(readValue('temperature', quantity('8310-5', 37))).toEqual({ problem: 'temperature without a unit' });
    expect(readValue('temperature', quantity('8310-5', 310, 'K'))).toEqual({
      problem: 'temperature in unknown unit K',
    });
    expect(readValue('pulse', quantity('8867-4', 700, '/min'))).toEqual({ problem: 'implausible value 700 /min' });
    expect(readValue('spo2', quantity('59408-5', 0.93, '1'))).toEqual({ value: 93 });
    expect(readValue('spo2', quantity('59408-5', 93, 'mmHg'))).toEqual({ problem: 'unexpected unit mmHg' });
    expect(readValue('pulse', { ...quantity('8867-4', 70, '/min'), status: 'entered-in-error' })).toEqual({
      problem: 'status entered-in-error',
    });
  });

  it('an unusable newest reading falls back to the newest usable one, and says why when there is none', () => {
    const good = { ...quantity('8867-4', 80, '/min'), effectiveDateTime: new Date(Date.now() - 60_000).toISOString() };
    const bad = quantity('8867-4', 700, '/min');
    const base = normal().filter((o) => o.code.coding?.[0].code !== '8867-4');
    expect(assembleInputs([...base, bad, good], [], NOW, DAY).values?.pulse).toBe(80);
    expect(assembleInputs([...base, bad], [], NOW, DAY).missing).toEqual([
      { parameter: 'pulse', reason: 'Observation/8867-4-700: implausible value 700 /min' },
    ]);
  });

  it('consciousness from the ACVPU SNOMED CT codes only', () => {
    const acvpu = (code: string): Observation => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '67775-7' }] },
      valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code }] },
    });
    expect(readValue('consciousness', acvpu('248234008'))).toEqual({ value: 'alert' });
    expect(readValue('consciousness', acvpu('255373000'))).toEqual({ value: 'voice' });
    expect(readValue('consciousness', acvpu('130987000'))).toEqual({ value: 'confusion' });
    expect(readValue('consciousness', acvpu('12345'))).toHaveProperty('problem');
  });

  it('systolic from 8480-6 or from the component of the BP panel 85354-9', () => {
    const panel: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      component: [
        { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 60 } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 101 } },
      ],
    };
    expect(readValue('systolic-bp', panel)).toEqual({ value: 101 });
  });

  it('scale 2: an active Goal on SpO2 whose target tops out at ≤ 92 %', () => {
    expect(usesScale2([spo2Goal(92)])).toBe(true);
    expect(usesScale2([spo2Goal(93)])).toBe(false);
    expect(usesScale2([spo2Goal(92, 'completed')])).toBe(false);
    expect(usesScale2([])).toBe(false);
    expect(assembleInputs(normal(), [spo2Goal(90)], NOW, DAY).values?.scale2).toBe(true);
  });
});
