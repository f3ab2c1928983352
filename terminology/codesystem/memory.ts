import type { CodeSystem } from '@medplum/fhirtypes';
import { unprocessable } from '../../server/fhir/outcomes.ts';
import type { CodeSystemHeader, FilterSpec, FlatConcept, Queryable } from '../model.ts';
import { runSql } from '../sql.ts';
import { rowsPart, type Part } from '../valueset/parts.ts';
import { anchoredRegex, CONCEPT_PROPERTIES, type CodeSystemHandle } from './handle.ts';
import { flattenCodeSystem } from './flatten.ts';

/**
 * A code system held in memory: the R4 specification's (a few thousand concepts at most per system) and CodeSystem
 * resources written through the API. Filters are evaluated here; regular expressions in the database, whose regex
 * engine does not backtrack catastrophically on hostile patterns as JavaScript's can.
 */
export class MemoryCodeSystem implements CodeSystemHandle {
  readonly kind = 'memory';
  readonly url: string;
  readonly version?: string;
  readonly header: CodeSystemHeader;
  readonly caseSensitive: boolean;
  readonly concepts: FlatConcept[];
  private readonly byCode = new Map<string, FlatConcept>();
  private readonly byLower = new Map<string, FlatConcept>();

  constructor(cs: CodeSystem) {
    const { concept: _concept, ...header } = cs;
    this.url = cs.url as string;
    this.version = cs.version;
    this.header = header;
    this.caseSensitive = cs.caseSensitive !== false;
    this.concepts = flattenCodeSystem(cs);
    for (const c of this.concepts) {
      this.byCode.set(c.code, c);
      this.byLower.set(c.code.toLowerCase(), c);
    }
  }

  async find(_db: Queryable, code: string): Promise<FlatConcept | undefined> {
    return this.byCode.get(code) ?? (this.caseSensitive ? undefined : this.byLower.get(code.toLowerCase()));
  }

  async byOrds(_db: Queryable, ords: number[]): Promise<FlatConcept[]> {
    return ords.map((o) => this.concepts[o]).filter(Boolean);
  }

  async children(_db: Queryable, ord: number): Promise<FlatConcept[]> {
    return this.concepts.filter((c) => c.parents.includes(ord));
  }

  async select(db: Queryable, filters: FilterSpec[], seqBase: number): Promise<Part> {
    let selected = this.concepts;
    for (const f of filters) selected = await this.filter(db, selected, f);
    return rowsPart(
      selected.map((c) => ({
        system: this.url,
        version: this.version,
        code: c.code,
        display: c.display,
        inactive: c.inactive || undefined,
        abstract: c.abstract || undefined,
        designations: c.designations,
        seq: seqBase + c.ord,
      })),
    );
  }

  private async filter(db: Queryable, concepts: FlatConcept[], f: FilterSpec): Promise<FlatConcept[]> {
    const onConcept = CONCEPT_PROPERTIES.has(f.property);
    const list = () => new Set(f.value.split(',').map((v) => v.trim()));
    if (onConcept && ['is-a', 'descendent-of', 'is-not-a', 'generalizes'].includes(f.op)) {
      const target = await this.find(db, f.value);
      if (!target) return f.op === 'is-not-a' ? concepts : [];
      if (f.op === 'generalizes') return concepts.filter((c) => target.ancestors.includes(c.ord));
      if (f.op === 'is-not-a') return concepts.filter((c) => !c.ancestors.includes(target.ord));
      return concepts.filter((c) => c.ancestors.includes(target.ord) && (f.op === 'is-a' || c.ord !== target.ord));
    }
    const values = (c: FlatConcept): string[] =>
      onConcept ? [c.code] : f.property === 'display' ? (c.display ? [c.display] : []) : (c.props[f.property] ?? []);
    switch (f.op) {
      case '=':
        return concepts.filter((c) => values(c).includes(f.value));
      case 'in': {
        const set = list();
        return concepts.filter((c) => values(c).some((v) => set.has(v)));
      }
      case 'not-in': {
        const set = list();
        return concepts.filter((c) => !values(c).some((v) => set.has(v)));
      }
      case 'exists':
        return concepts.filter((c) => values(c).length > 0 === (f.value !== 'false'));
      case 'regex': {
        const candidates = [...new Set(concepts.flatMap(values))];
        const rows = await runSql<{ v: string }>(db, 'SELECT v FROM unnest($1::text[]) v WHERE v ~ $2', [
          candidates,
          anchoredRegex(f.value),
        ]);
        const matching = new Set(rows.map((r) => r.v));
        return concepts.filter((c) => values(c).some((v) => matching.has(v)));
      }
      default:
        throw unprocessable(`The filter ${f.property} ${f.op} ${f.value} is not supported on ${this.url}`);
    }
  }
}
