import { badRequest } from '../fhir/outcomes.ts';
import { textProblem } from '../fhir/well-formed.ts';
import type { FhirRequest } from './types.ts';

/**
 * A query as FhirRequest carries it (name → values in order), read from query-string text (`a=1&b=2`, no `?`). The
 * object has no prototype: parameter names such as `constructor`, `toString` or `__proto__` are plain keys, never
 * Object.prototype's members. `into` adds to an existing query (form bodies of `_search`).
 */
export function parseQueryString(
  text: string,
  into: Record<string, string[]> = Object.create(null),
): Record<string, string[]> {
  for (const [k, v] of new URLSearchParams(text)) (into[k] ??= []).push(v);
  return into;
}

/** Checks query names and values are valid text (no NUL, no lone surrogate): 400 naming the parameter otherwise. */
export function checkQueryText(query: Record<string, string[]>, where = 'The query'): void {
  for (const name of Object.keys(query)) {
    const nameProblem = textProblem(name);
    if (nameProblem) throw badRequest(`${where}: a parameter name ${nameProblem}`);
    for (const value of query[name]) {
      const problem = textProblem(value);
      if (problem) throw badRequest(`${where}: the value of ${name} ${problem}`, name);
    }
  }
}

/**
 * Checks a request's path, query and header values are valid text, whatever door it came through (a NUL could
 * reach Postgres, which refuses it, as a 500): 400 otherwise.
 */
export function checkRequestText(req: FhirRequest): void {
  const pathProblem = textProblem(req.path);
  if (pathProblem) throw badRequest(`The request path ${pathProblem}`);
  checkQueryText(req.query);
  for (const [name, value] of Object.entries(req.headers)) {
    const problem = typeof value === 'string' ? textProblem(value) : undefined;
    if (problem) throw badRequest(`The ${headerName(name)} header ${problem}`);
  }
}

/** `ifNoneExist` → `If-None-Exist`. */
function headerName(key: string): string {
  return key.replace(/^[a-z]/, (c) => c.toUpperCase()).replace(/(?<=.)[A-Z]/g, (c) => `-${c}`);
}
