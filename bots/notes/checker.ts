import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { isDrugName } from './drug-names.ts';

/** The kinds of value the checker looks for in a draft. */
export type ValueKind = 'date' | 'dose' | 'code' | 'drug' | 'number';

/** A value a draft states that the inputs do not hold. */
export interface UnsupportedValue {
  kind: ValueKind;
  value: string;
}

/** A sentence of a draft that carries values absent from the inputs. */
export interface SentenceFinding {
  sentence: string;
  values: UnsupportedValue[];
}

/** What the inputs hold, normalised the way draft values are, to look them up. */
export interface Evidence {
  numbers: Set<number>;
  /** `YYYY-MM-DD`, `YYYY-MM` and `YYYY` of every date and dateTime, as written (no time-zone shift). */
  dates: Set<string>;
  /** `<number> <unit>` pairs: Quantities and doses written in texts (`500 mg`). */
  doses: Set<string>;
  /** Every word of every text, lower-case (codes, drug names, units). */
  words: Set<string>;
}

/** Keys whose values are identifiers of the server, not clinical content: no evidence for a draft. */
const NOT_CONTENT = new Set(['id', 'reference', 'fullUrl', 'url', 'system', 'meta', 'versionId']);

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH =
  '(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)';
const ISO_DATE = /\b(\d{4})-(\d{2})(?:-(\d{2}))?(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?(?![\w-])/g;
const MONTH_DAY_YEAR = new RegExp(`\\b${MONTH}\\.?\\s+(\\d{1,2})(?:st|nd|rd|th)?,?\\s+(\\d{4})\\b`, 'gi');
const DAY_MONTH_YEAR = new RegExp(`\\b(\\d{1,2})(?:st|nd|rd|th)?\\s+(?:of\\s+)?${MONTH}\\.?,?\\s+(\\d{4})\\b`, 'gi');
const MONTH_YEAR = new RegExp(`\\b${MONTH}\\.?\\s+(\\d{4})\\b`, 'gi');
/** A year on its own ("in 2019"), judged against the years of the inputs' dates. */
const YEAR = /(?<![\w.,/-])(?:19|20)\d{2}(?![\w,/-]|\.\d)/g;
const SLASH_DATE = /\b(\d{1,2})\/(\d{1,2})\/(\d{4})\b/g;
const DOSE_UNIT =
  '(mg|mcg|µg|ug|g|kg|ml|l|units?|unt|iu|meq|mmol|tablets?|tabs?|capsules?|caps?|puffs?|actuat|drops?|sprays?|patch(?:es)?)';
/** A dose: a number and a unit, perhaps compound (`2 mg/kg`, `0.09 MG/ACTUAT`, `21.3 kg/m2`, `90 mL/min/{1.73_m2}`). */
const DOSE = new RegExp(
  `(?<![\\w.])(\\d+(?:\\.\\d+)?)\\s*(${DOSE_UNIT}(?:\\/[\\w.{}\\[\\]*]*[\\w}\\]*])*)(?![\\w/])`,
  'gi',
);
/** Dose forms: "1 tablet" is backed by a dose of 1 of a drug whose name says "Oral Tablet". */
const FORMS = /^(tablet|capsule|puff|drop|spray|patch)$/;
/** A token mixing letters and digits, or digits joined by `-`/`.` (LOINC 8480-6, ICD-10 E11.9, SNOMED 44054006-1). */
const CODE = /(?<![\w.-])(?=[\w.-]*\d)(?=[\w.-]*[A-Za-z-])[A-Za-z0-9]+(?:[.-][A-Za-z0-9]+)*(?![\w-]|\.\w)/g;
const NUMBER = /(?<![\w.])[-+]?\d+(?:,\d{3})*(?:\.\d+)?(?!\w|\.\d)/g;
const EVIDENCE_NUMBER = /\d+(?:\.\d+)?/g;
const WORD = /[\p{L}\p{N}][\p{L}\p{N}.-]*[\p{L}\p{N}]|[\p{L}\p{N}]/gu;

/** Gathers what the input resources hold: every value of every element, except the server's own identifiers. */
export function collectEvidence(resources: Resource[]): Evidence {
  const evidence: Evidence = { numbers: new Set(), dates: new Set(), doses: new Set(), words: new Set() };
  const visit = (value: unknown, key: string): void => {
    if (NOT_CONTENT.has(key)) return;
    if (typeof value === 'string') addText(evidence, value);
    else if (typeof value === 'number') evidence.numbers.add(value);
    else if (Array.isArray(value)) for (const v of value) visit(v, key);
    else if (value && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      if (typeof o.value === 'number') {
        for (const unit of [o.unit, o.code]) if (typeof unit === 'string') addDose(evidence, o.value, unit);
      }
      for (const [k, v] of Object.entries(o)) visit(v, k);
    }
  };
  for (const r of resources) visit(r, '');
  return evidence;
}

function addText(evidence: Evidence, value: string): void {
  // a date backs dates (its year included), not numbers: "seen 4 times" is not backed by 2024-03-04
  const text = value.replace(ISO_DATE, (...args: string[]) => {
    const [whole, year, month, day] = args;
    evidence.dates.add(year).add(`${year}-${month}`);
    if (day) evidence.dates.add(`${year}-${month}-${day}`);
    for (const n of whole.slice(10).match(EVIDENCE_NUMBER) ?? []) evidence.numbers.add(Number(n)); // its time
    return ' ';
  });
  for (const m of text.matchAll(EVIDENCE_NUMBER)) evidence.numbers.add(Number(m[0]));
  for (const m of text.matchAll(DOSE)) {
    addDose(evidence, Number(m[1]), m[2]);
    addDose(evidence, Number(m[1]), m[3]); // "0.09 MG/ACTUAT" backs "0.09 mg" too
  }
  for (const m of text.matchAll(WORD)) {
    const word = m[0].toLowerCase();
    evidence.words.add(word);
    for (const part of word.split(/[.-]/)) evidence.words.add(part);
  }
}

function addDose(evidence: Evidence, value: number, unit: string): void {
  evidence.doses.add(`${value} ${normalUnit(unit)}`);
}

const UNIT_ALIASES = new Map(
  Object.entries({
    ug: 'mcg',
    µg: 'mcg',
    unt: 'unit',
    units: 'unit',
    tab: 'tablet',
    tabs: 'tablet',
    tablets: 'tablet',
    cap: 'capsule',
    caps: 'capsule',
    capsules: 'capsule',
    puffs: 'puff',
    drops: 'drop',
    sprays: 'spray',
    patches: 'patch',
  }),
);

function normalUnit(unit: string): string {
  const u = unit.toLowerCase();
  return UNIT_ALIASES.get(u) ?? u;
}

/**
 * The values a text states that the evidence does not hold: dates (ISO, "March 4, 2020", "4 March 2020", "03/04/2020"),
 * doses (`500 mg`), codes, drug names and numbers. Each value is taken once, by the most specific reading
 * (a date's digits are not numbers too).
 */
export function unsupportedValues(text: string, evidence: Evidence): UnsupportedValue[] {
  const found: UnsupportedValue[] = [];
  let rest = text;
  const take = (re: RegExp, judge: (m: RegExpExecArray) => UnsupportedValue | undefined) => {
    rest = rest.replace(re, (...args: unknown[]) => {
      const m = args.slice(0, -2) as unknown as RegExpExecArray;
      const problem = judge(m);
      if (problem) found.push(problem);
      return ' '.repeat(m[0].length);
    });
  };
  take(ISO_DATE, (m) => dateValue(m[0], m[3] ? `${m[1]}-${m[2]}-${m[3]}` : `${m[1]}-${m[2]}`, evidence));
  take(MONTH_DAY_YEAR, (m) => dateValue(m[0], isoOf(m[3], monthOf(m[1]), m[2]), evidence));
  take(DAY_MONTH_YEAR, (m) => dateValue(m[0], isoOf(m[3], monthOf(m[2]), m[1]), evidence));
  take(MONTH_YEAR, (m) => dateValue(m[0], `${m[2]}-${monthOf(m[1])}`, evidence));
  take(YEAR, (m) => (evidence.dates.has(m[0]) ? undefined : { kind: 'date', value: m[0] }));
  take(SLASH_DATE, (m) => {
    const us = isoOf(m[3], m[1], m[2]);
    const european = isoOf(m[3], m[2], m[1]);
    return evidence.dates.has(us) || evidence.dates.has(european) ? undefined : { kind: 'date', value: m[0] };
  });
  take(DOSE, (m) => {
    const unit = normalUnit(m[2]);
    if (evidence.doses.has(`${Number(m[1])} ${unit}`)) return undefined;
    if (FORMS.test(unit) && evidence.numbers.has(Number(m[1])) && hasWordStartingWith(evidence, unit)) return undefined;
    return { kind: 'dose', value: m[0] };
  });
  take(CODE, (m) => {
    if (evidence.words.has(m[0].toLowerCase())) return undefined;
    const parts = m[0].split('-');
    if (parts.every((p) => /^\d+(?:\.\d+)?$/.test(p))) {
      // a range ("120-130") is numbers, each judged as one
      const missing = parts.find((p) => !evidence.numbers.has(Number(p)));
      return missing === undefined ? undefined : { kind: 'number', value: missing };
    }
    return { kind: 'code', value: m[0] };
  });
  for (const m of rest.matchAll(WORD)) {
    for (const part of m[0].split(/[.-]/)) {
      const word = part.toLowerCase();
      if (isDrugName(word) && !evidence.words.has(word)) found.push({ kind: 'drug', value: part });
    }
  }
  for (const m of rest.matchAll(NUMBER)) {
    const n = Number(m[0].replace(/,/g, ''));
    if (!evidence.numbers.has(Math.abs(n)) && !evidence.numbers.has(n)) found.push({ kind: 'number', value: m[0] });
  }
  return found;
}

function hasWordStartingWith(evidence: Evidence, stem: string): boolean {
  return evidence.words.has(stem) || evidence.words.has(`${stem}s`) || evidence.words.has(`${stem}es`);
}

function dateValue(written: string, iso: string, evidence: Evidence): UnsupportedValue | undefined {
  return evidence.dates.has(iso) ? undefined : { kind: 'date', value: written };
}

function monthOf(name: string): string {
  return String(MONTHS.indexOf(name.slice(0, 3).toLowerCase()) + 1).padStart(2, '0');
}

function isoOf(year: string, month: string, day: string): string {
  return `${year}-${month.padStart(2, '0')}-${day.padStart(2, '0')}`;
}

const SENTENCES = new Intl.Segmenter('en', { granularity: 'sentence' });

/** A checked draft: the sentences with values absent from the inputs, and the text with each of them marked. */
export interface CheckedDraft {
  findings: SentenceFinding[];
  /** The draft with `[unverified: …]` right after each sentence that carries an unsupported value. */
  marked: string;
}

/** Checks a draft sentence by sentence (line by line first: a heading or a list item is a sentence of its own). */
export function checkDraft(text: string, evidence: Evidence): CheckedDraft {
  const findings: SentenceFinding[] = [];
  const lines = text.split('\n').map((line) =>
    [...SENTENCES.segment(line)]
      .map(({ segment }) => {
        const values = unsupportedValues(segment, evidence);
        if (!values.length) return segment;
        findings.push({ sentence: segment.trim(), values });
        const trimmed = segment.trimEnd();
        return `${trimmed} [unverified: ${values.map((v) => v.value).join('; ')}]${segment.slice(trimmed.length)}`;
      })
      .join(''),
  );
  return { findings, marked: lines.join('\n') };
}

/** The OperationOutcome that lists a draft's unsupported values, one warning per sentence. */
export function findingsOutcome(findings: SentenceFinding[], id?: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    ...(id ? { id } : {}),
    issue: findings.map((f) => ({
      severity: 'warning',
      code: 'business-rule',
      details: { text: f.sentence.slice(0, 1000) },
      diagnostics: `Not found in the encounter's data: ${f.values.map((v) => `${v.kind} "${v.value}"`).join(', ')}`,
    })),
  };
}
