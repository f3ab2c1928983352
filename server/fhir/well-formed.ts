import { decimalText, keptNumberTexts } from './decimals.ts';

/*
 * Values no FHIR resource or request may carry, whatever the door: strings with U+0000 or a lone surrogate (neither is
 * a Unicode scalar value, so neither is a valid FHIR string, and Postgres stores neither in text or jsonb), and numbers
 * outside what a decimal can be here (infinite after parsing, a nonzero value that rounds to 0, absurdly long text;
 * Postgres' numeric, which jsonb uses, refuses some of them and the rest could not be searched or compared).
 */

/** Longest number text accepted; a double has at most 17 significant digits, FHIR asks for 18 at least. */
export const MAX_NUMBER_TEXT = 100;

/** NUL or any surrogate: a cheap first look (paired surrogates, i.e. emoji, are fine). */
const SUSPECT = /[\u0000\uD800-\uDFFF]/;
/** NUL, or a surrogate code unit that is not half of a pair (with the u flag a pair reads as one code point). */
const NOT_TEXT = /[\u0000\p{Cs}]/u;

function isText(text: string): boolean {
  return !SUSPECT.test(text) || !NOT_TEXT.test(text);
}

/** Why a string is not valid FHIR text (a NUL, a lone surrogate), or undefined when it is fine. */
export function textProblem(text: string): string | undefined {
  if (isText(text)) return undefined;
  return text.includes('\u0000')
    ? 'contains a NUL character (U+0000)'
    : 'contains a lone surrogate (not a Unicode character)';
}

/** Largest exponent accepted: beyond any double's, well within Postgres' numeric (`0e-20000` overflows it). */
const MAX_EXPONENT = 1000;

/**
 * Why a number literal does not fit the decimal rules, or undefined when it does: it must be finite as a double, not
 * a nonzero value that rounds to 0, at most MAX_NUMBER_TEXT characters long, with an exponent within ±MAX_EXPONENT.
 */
export function numberProblem(text: string): string | undefined {
  if (text.length > MAX_NUMBER_TEXT) return `is longer than ${MAX_NUMBER_TEXT} characters`;
  const value = Number(text);
  if (!Number.isFinite(value)) return 'is out of range (larger than a decimal can be)';
  const [mantissa, exponent] = text.split(/[eE]/);
  if (value === 0 && /[1-9]/.test(mantissa)) return 'is out of range (too small to be told from 0)';
  if (exponent !== undefined && Math.abs(Number(exponent)) > MAX_EXPONENT)
    return `has an exponent beyond ±${MAX_EXPONENT}`;
  return undefined;
}

/** Where a value breaks these rules: a FHIRPath-like location under `root` and the reason. */
export interface IllFormedValue {
  path: string;
  problem: string;
}

/**
 * The first string (value or property name) or number inside a parsed JSON value that breaks these rules. Numbers are
 * judged on the text they were read with (server/fhir/decimals.ts keeps it when it differs from JavaScript's form).
 * Walks iteratively, so no nesting depth can overflow the stack.
 */
export function findIllFormedValue(value: unknown, root: string): IllFormedValue | undefined {
  return allWellFormed(value) ? undefined : locate(value, root);
}

/**
 * The check on its own, without building paths: it runs on every write, and nearly every value passes. A number is
 * judged on its kept source text when it has one (a value changed since parsing is judged again by `locate`).
 */
function allWellFormed(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'string') {
      if (!isText(node)) return false;
    } else if (typeof node === 'number') {
      if (!Number.isFinite(node)) return false;
    } else if (node !== null && typeof node === 'object') {
      for (const text of keptNumberTexts(node) ?? []) if (numberProblem(text)) return false;
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) stack.push(node[i]);
      } else {
        for (const key in node) {
          if (!isText(key)) return false;
          stack.push((node as Record<string, unknown>)[key]);
        }
      }
    }
  }
  return true;
}

/** Where the first value breaking the rules is, and why. */
function locate(value: unknown, root: string): IllFormedValue | undefined {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length > 0) {
    const [node, path] = stack.pop() as [unknown, string];
    if (typeof node === 'string') {
      const problem = textProblem(node);
      if (problem) return { path, problem: `The string ${problem}` };
    } else if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) {
        const problem = typeof node[i] === 'number' ? numberAt(node, i, node[i]) : undefined;
        if (problem) return { path: `${path}[${i}]`, problem };
        stack.push([node[i], `${path}[${i}]`]);
      }
    } else if (node !== null && typeof node === 'object') {
      for (const key of Object.keys(node)) {
        const keyProblem = textProblem(key);
        if (keyProblem) return { path, problem: `A property name ${keyProblem}` };
        const child = (node as Record<string, unknown>)[key];
        const problem = typeof child === 'number' ? numberAt(node, key, child) : undefined;
        if (problem) return { path: `${path}.${key}`, problem };
        stack.push([child, `${path}.${key}`]);
      }
    }
  }
  return undefined;
}

function numberAt(holder: object, key: string | number, value: number): string | undefined {
  const text = decimalText(holder, key, value);
  if (text === String(value) && Number.isFinite(value)) return undefined;
  const problem = numberProblem(text);
  return problem && `The number ${text.length > 40 ? `${text.slice(0, 40)}…` : text} ${problem}`;
}
