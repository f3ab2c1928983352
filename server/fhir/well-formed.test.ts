import { describe, expect, it } from 'vitest';
import { parseJsonKeepingDecimals } from './decimals.ts';
import { findIllFormedValue, numberProblem, textProblem } from './well-formed.ts';

describe('textProblem', () => {
  it('refuses NUL and lone surrogates, accepts paired surrogates and everything else', () => {
    expect(textProblem('a\u0000b')).toMatch(/NUL/);
    expect(textProblem('\ud800')).toMatch(/lone surrogate/);
    expect(textProblem('x\udc00y')).toMatch(/lone surrogate/);
    expect(textProblem('\ud83d\ude00\ud83d')).toMatch(/lone surrogate/); // a pair, then half of one
    for (const fine of ['', 'plain', 'é ü ß', '\ud83d\ude00', 'tab\tand\nnewline', '\uFFFD'])
      expect(textProblem(fine), fine).toBeUndefined();
  });
});

describe('numberProblem', () => {
  it('refuses numbers no decimal can be: infinite, underflowing, too long, absurd exponents', () => {
    expect(numberProblem('1e999999')).toMatch(/out of range/);
    expect(numberProblem('0.1e9999999')).toMatch(/out of range/);
    expect(numberProblem('-1e309')).toMatch(/out of range/);
    expect(numberProblem('1e-999999')).toMatch(/too small/);
    expect(numberProblem('0e-20000')).toMatch(/exponent/);
    expect(numberProblem(`1.${'0'.repeat(200)}`)).toMatch(/longer than/);
  });

  it('accepts the decimals real data has, and the extremes of a double', () => {
    for (const fine of [
      '0',
      '-0',
      '1.50',
      '0.000123456789012345678',
      '12345678901234567890.5',
      '1e308',
      '5e-324',
      '0e-5',
      '1E3',
    ]) {
      expect(numberProblem(fine), fine).toBeUndefined();
    }
  });
});

describe('findIllFormedValue', () => {
  const find = (json: string) => findIllFormedValue(parseJsonKeepingDecimals(json), 'Patient');

  it('finds bad strings, property names and numbers (judged on their source text) with their path', () => {
    expect(find('{"name":[{"family":"a\\u0000"}]}')).toEqual({
      path: 'Patient.name[0].family',
      problem: expect.stringMatching(/NUL/),
    });
    expect(find('{"name":[{"given":["ok","\\ud800"]}]}')).toMatchObject({ path: 'Patient.name[0].given[1]' });
    expect(find('{"extension":[{"\\udc00":1}]}')).toMatchObject({
      path: 'Patient.extension[0]',
      problem: expect.stringMatching(/property name/),
    });
    expect(find('{"a":{"value":1e999999}}')).toMatchObject({
      path: 'Patient.a.value',
      problem: expect.stringMatching(/1e999999/),
    });
    expect(find('{"a":[1, 1e-999999]}')).toMatchObject({ path: 'Patient.a[1]' });
  });

  it('passes ordinary resources, and survives nesting deeper than the call stack could', () => {
    expect(
      find('{"name":[{"family":"Zoë 😀","given":["A"]}],"multipleBirthInteger":2,"x":[1.50,2.0,1e3]}'),
    ).toBeUndefined();
    let deep: unknown = 'end\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findIllFormedValue(deep, 'x')?.problem).toMatch(/NUL/);
  });
});
