import type { CodeSystemHeader, FilterSpec, FlatConcept, Queryable } from '../model.ts';
import type { Part } from '../valueset/parts.ts';

/**
 * A code system the server holds: in memory (the R4 specification's, CodeSystem resources written through the API) or
 * in the terminology store (packages, licensed releases, streamed loads). Both answer the same questions.
 */
export interface CodeSystemHandle {
  kind: 'memory' | 'stored';
  url: string;
  version?: string;
  header: CodeSystemHeader;
  caseSensitive: boolean;
  /** The concept with this code (case-insensitively for case-insensitive systems). */
  find(db: Queryable, code: string): Promise<FlatConcept | undefined>;
  /** Concepts by ordinal (parents' codes for $lookup). */
  byOrds(db: Queryable, ords: number[]): Promise<FlatConcept[]>;
  /** Direct children of a concept. */
  children(db: Queryable, ord: number): Promise<FlatConcept[]>;
  /** The concepts passing every filter (all of them without filters), as a part of an expansion. */
  select(db: Queryable, filters: FilterSpec[], seqBase: number): Promise<Part>;
}

/** Whether `a` subsumes `b` (b is-a a, or they are the same concept). */
export function subsumes(a: FlatConcept, b: FlatConcept): boolean {
  return b.ancestors.includes(a.ord);
}

/** Filters on the concept itself (`concept`, `code`) rather than on a property. */
export const CONCEPT_PROPERTIES = new Set(['concept', 'code']);

/** The operators R4 defines for ValueSet.compose filters that this server evaluates. */
export const FILTER_OPS = new Set([
  '=',
  'is-a',
  'descendent-of',
  'is-not-a',
  'regex',
  'in',
  'not-in',
  'generalizes',
  'exists',
]);

/** A user's regex as a whole-value match; bounded in length (the database evaluates it, under its own limits). */
export function anchoredRegex(value: string): string {
  return `^(?:${value})$`;
}
