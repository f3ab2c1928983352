import { parseJsonKeepingDecimals } from '../fhir/decimals.ts';
import { badRequest } from '../fhir/outcomes.ts';

/** Deepest nesting accepted in a request body; real FHIR resources stay far below it. */
export const MAX_JSON_DEPTH = 100;

/** Parses JSON text (decimal text kept), with a clear 400 for malformed or absurdly nested input (never a crash). */
export function parseJsonBody(text: string): unknown {
  if (maxDepth(text) > MAX_JSON_DEPTH) throw badRequest(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return parseJsonKeepingDecimals(text);
  } catch (err) {
    throw badRequest(`Malformed JSON: ${(err as Error).message}`);
  }
}

/** Nesting depth of JSON text, counted on the characters (outside strings) without parsing. */
function maxDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash escapes the next char
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
      if (max > MAX_JSON_DEPTH) return max;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}
