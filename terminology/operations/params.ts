import type { CodeableConcept, Coding, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../../server/fhir/outcomes.ts';
import type { FhirRequest } from '../../server/core/types.ts';

/** Longest text value a terminology operation accepts in one parameter (codes, URLs, filters). */
const MAX_VALUE_LENGTH = 4096;

/**
 * The input parameters of a terminology operation, from the query string (GET, and POST alike) and from a
 * Parameters body (POST). Values are checked for type; a malformed one answers 400.
 */
export class OperationInput {
  private readonly body: ParametersParameter[];

  constructor(private readonly req: FhirRequest) {
    const body = req.body as Resource | undefined;
    if (req.method === 'POST' && body !== undefined) {
      if (body?.resourceType !== 'Parameters')
        throw badRequest('The body of a terminology operation must be a Parameters resource');
      this.body = (body as Parameters).parameter ?? [];
    } else this.body = [];
  }

  private part(name: string): ParametersParameter | undefined {
    return this.body.find((p) => p.name === name);
  }

  /** A string-like parameter (string, code, uri, canonical). */
  string(name: string): string | undefined {
    const q = this.req.query[name];
    if (q && q.length > 1) throw badRequest(`The parameter "${name}" is given more than once`, name);
    const p = this.part(name);
    const value =
      q?.[0] ??
      (p ? (p.valueString ?? p.valueCode ?? p.valueUri ?? p.valueCanonical ?? p.valueUrl ?? p.valueId) : undefined);
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.length > MAX_VALUE_LENGTH)
      throw badRequest(`The parameter "${name}" must be text of at most ${MAX_VALUE_LENGTH} characters`, name);
    return value;
  }

  /** Every value of a repeatable string-like parameter. */
  strings(name: string): string[] {
    const fromBody = this.body
      .filter((p) => p.name === name)
      .map((p) => p.valueString ?? p.valueCode ?? p.valueUri ?? p.valueCanonical);
    return [...(this.req.query[name] ?? []), ...fromBody].filter((v): v is string => typeof v === 'string');
  }

  boolean(name: string): boolean | undefined {
    const p = this.part(name);
    if (p?.valueBoolean !== undefined) return p.valueBoolean;
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (v !== 'true' && v !== 'false') throw badRequest(`The parameter "${name}" must be true or false`, name);
    return v === 'true';
  }

  integer(name: string, max: number): number | undefined {
    const p = this.part(name);
    const raw = p?.valueInteger !== undefined ? String(p.valueInteger) : this.string(name);
    if (raw === undefined) return undefined;
    if (!/^\d{1,9}$/.test(raw) || Number(raw) > max)
      throw badRequest(`The parameter "${name}" must be a whole number from 0 to ${max}`, name);
    return Number(raw);
  }

  coding(name: string): Coding | undefined {
    const c = this.part(name)?.valueCoding;
    if (c !== undefined && (typeof c !== 'object' || c === null)) throw badRequest(`"${name}" must be a Coding`, name);
    return c;
  }

  codeableConcept(name: string): CodeableConcept | undefined {
    return this.part(name)?.valueCodeableConcept;
  }

  resource<T extends Resource>(name: string, type: T['resourceType']): T | undefined {
    const r = this.part(name)?.resource;
    if (r === undefined) return undefined;
    if (r.resourceType !== type) throw badRequest(`The parameter "${name}" must be a ${type}`, name);
    return r as T;
  }
}

/** A Parameters resource from name/value pairs (undefined values left out). */
export function parametersOf(parts: (ParametersParameter | undefined)[]): Parameters {
  return { resourceType: 'Parameters', parameter: parts.filter((p): p is ParametersParameter => p !== undefined) };
}
