import { unprocessable } from '../../server/fhir/outcomes.ts';
import type { CodeSystemHeader, Designation, FilterSpec, FlatConcept, Params, Queryable } from '../model.ts';
import { runSql } from '../sql.ts';
import { PART_COLUMNS, type Part } from '../valueset/parts.ts';
import { anchoredRegex, CONCEPT_PROPERTIES, type CodeSystemHandle } from './handle.ts';

/** A row of terminology_concept. */
interface ConceptRecord extends Record<string, unknown> {
  ord: number;
  code: string;
  display: string | null;
  inactive: boolean;
  abstract: boolean;
  parents: number[];
  ancestors: number[];
  props: Record<string, string[]> | null;
  detail: { definition?: string; designation?: Designation[]; property?: FlatConcept['properties'] } | null;
}

const COLUMNS = 'ord, code, display, inactive, abstract, parents, ancestors, props, detail';

function toConcept(r: ConceptRecord): FlatConcept {
  return {
    ord: r.ord,
    code: r.code,
    display: r.display ?? undefined,
    definition: r.detail?.definition,
    inactive: r.inactive,
    abstract: r.abstract,
    parents: r.parents,
    ancestors: r.ancestors,
    props: r.props ?? {},
    designations: r.detail?.designation,
    properties: r.detail?.property,
  };
}

/**
 * A code system in the terminology store (packages, licensed releases, streamed loads): every question is one
 * indexed statement; is-a is a containment test on the concept's ancestor closure (GIN index), so neither a lookup
 * nor an expansion walks the hierarchy.
 */
export class StoredCodeSystem implements CodeSystemHandle {
  readonly kind = 'stored';
  readonly url: string;
  readonly version?: string;
  readonly caseSensitive: boolean;

  constructor(
    readonly id: number,
    readonly header: CodeSystemHeader,
    caseSensitive: boolean,
  ) {
    this.url = header.url as string;
    this.version = header.version;
    this.caseSensitive = caseSensitive;
  }

  async find(db: Queryable, code: string): Promise<FlatConcept | undefined> {
    const exact = await runSql<ConceptRecord>(
      db,
      `SELECT ${COLUMNS} FROM terminology_concept WHERE system_id = $1 AND code = $2`,
      [this.id, code],
    );
    if (exact[0] || this.caseSensitive) return exact[0] && toConcept(exact[0]);
    const folded = await runSql<ConceptRecord>(
      db,
      `SELECT ${COLUMNS} FROM terminology_concept WHERE system_id = $1 AND lower(code) = lower($2) LIMIT 1`,
      [this.id, code],
    );
    return folded[0] && toConcept(folded[0]);
  }

  async byOrds(db: Queryable, ords: number[]): Promise<FlatConcept[]> {
    if (ords.length === 0) return [];
    const rows = await runSql<ConceptRecord>(
      db,
      `SELECT ${COLUMNS} FROM terminology_concept WHERE system_id = $1 AND ord = ANY($2::int[])`,
      [this.id, ords],
    );
    return rows.map(toConcept);
  }

  async children(db: Queryable, ord: number): Promise<FlatConcept[]> {
    const rows = await runSql<ConceptRecord>(
      db,
      `SELECT ${COLUMNS} FROM terminology_concept
        WHERE system_id = $1 AND ancestors @> ARRAY[$2::int] AND $2::int = ANY(parents) ORDER BY ord`,
      [this.id, ord],
    );
    return rows.map(toConcept);
  }

  async select(db: Queryable, filters: FilterSpec[], seqBase: number): Promise<Part> {
    const conditions: ((p: Params) => string)[] = [];
    for (const f of filters) conditions.push(await this.condition(db, f));
    const { id, url, version } = this;
    return {
      sql: (p) =>
        `SELECT ${PART_COLUMNS} FROM (SELECT ${p.add(url)}::text AS system, ${p.add(version ?? null)}::text AS version,
          c.code, c.display, c.inactive, c.abstract, c.detail -> 'designation' AS designations,
          ${p.add(seqBase)}::bigint + c.ord AS seq
          FROM terminology_concept c WHERE c.system_id = ${p.add(id)}::int
          ${conditions.map((cond) => ` AND ${cond(p)}`).join('')}) s`,
    };
  }

  /** The SQL condition (on alias `c`) of one filter. */
  private async condition(db: Queryable, f: FilterSpec): Promise<(p: Params) => string> {
    const onConcept = CONCEPT_PROPERTIES.has(f.property);
    const list = () => f.value.split(',').map((v) => v.trim());
    if (onConcept && ['is-a', 'descendent-of', 'is-not-a', 'generalizes'].includes(f.op)) {
      const target = await this.find(db, f.value);
      if (!target) return () => (f.op === 'is-not-a' ? 'TRUE' : 'FALSE');
      const ord = target.ord;
      switch (f.op) {
        case 'is-a':
          return (p) => `c.ancestors @> ARRAY[${p.add(ord)}::int]`;
        case 'descendent-of':
          return (p) => `(c.ancestors @> ARRAY[${p.add(ord)}::int] AND c.ord <> ${p.add(ord)}::int)`;
        case 'is-not-a':
          return (p) => `NOT (c.ancestors @> ARRAY[${p.add(ord)}::int])`;
        default:
          return (p) => `c.ord = ANY(${p.add(target.ancestors, 'int[]')})`;
      }
    }
    const value = (p: Params) =>
      onConcept ? 'c.code' : f.property === 'display' ? 'c.display' : `c.props -> ${p.add(f.property)}`;
    const scalar = onConcept || f.property === 'display';
    switch (f.op) {
      case '=':
        return (p) => (scalar ? `${value(p)} = ${p.add(f.value)}` : `jsonb_exists(${value(p)}, ${p.add(f.value)})`);
      case 'in':
      case 'not-in':
        return (p) => {
          const test = scalar
            ? `${value(p)} = ANY(${p.add(list(), 'text[]')})`
            : `jsonb_exists_any(${value(p)}, ${p.add(list(), 'text[]')})`;
          return f.op === 'in' ? `coalesce(${test}, false)` : `NOT coalesce(${test}, false)`;
        };
      case 'exists':
        return (p) => {
          const test = scalar ? `${value(p)} IS NOT NULL` : `jsonb_exists(c.props, ${p.add(f.property)})`;
          return f.value === 'false' ? `NOT coalesce(${test}, false)` : `coalesce(${test}, false)`;
        };
      case 'regex':
        return (p) =>
          scalar
            ? `${value(p)} ~ ${p.add(anchoredRegex(f.value))}`
            : `EXISTS (SELECT 1 FROM jsonb_array_elements_text(${value(p)}) v WHERE v ~ ${p.add(anchoredRegex(f.value))})`;
      default:
        throw unprocessable(`The filter ${f.property} ${f.op} ${f.value} is not supported on ${this.url}`);
    }
  }
}
