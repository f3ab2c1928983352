import { describe, expect, it } from 'vitest';
import { parseJsonKeepingDecimals } from './decimals.ts';

const roundTrip = (text: string, exact = false) => JSON.stringify(parseJsonKeepingDecimals(text, exact));

describe('parseJsonKeepingDecimals', () => {
  it('keeps the text of decimals JavaScript would write differently', () => {
    expect(roundTrip('{"a":1.50,"b":[2.0,3],"c":1e3,"d":-0,"e":0.0000001}')).toBe(
      '{"a":1.50,"b":[2.0,3],"c":1e3,"d":-0,"e":0.0000001}',
    );
    expect(roundTrip('{"a":0.000123456789012345678}')).toBe('{"a":0.000123456789012345678}');
    expect(roundTrip('{"a":12345678901234567890.5}')).toBe('{"a":12345678901234567890.5}');
  });

  it('reads 17 significant digits, with or without a leading 0., as JavaScript numbers (the same double)', () => {
    expect(roundTrip('{"a":0.45200479008509875,"b":66.899999999999991}')).toBe(
      '{"a":0.45200479008509875,"b":66.89999999999999}',
    );
    expect(roundTrip('{"a":0.10000000000000001}')).toBe('{"a":0.1}');
    expect(roundTrip('{"a":0.10000000000000001}', true)).toBe('{"a":0.10000000000000001}');
  });
});
