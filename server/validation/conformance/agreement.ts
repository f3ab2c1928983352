import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorsOf, validate } from '../validator.ts';

/**
 * Agreement with the official HL7 validator on its own test cases (the public FHIR/fhir-test-cases repository,
 * `validator/` folder): for each R4 JSON case, does Tributary's validation reach the same verdict (valid: no error or
 * fatal issue; invalid: at least one) as the Java validator's expected outcome (`outcomes/java/…`)? Cases whose
 * expected outcome came from a terminology server (an issue carrying the `operationoutcome-issue-server` extension)
 * or that need extra packages are reported apart. The cases stay outside the project; point at them with a path.
 */

/** One R4 JSON case and what the HL7 validator expects of it. */
export interface AgreementCase {
  name: string;
  file: string;
  module: string;
  expectedValid: boolean;
  /** The expected outcome depends on a remote terminology server. */
  needsTx: boolean;
  /** The case loads packages besides the R4 core. */
  needsPackages: boolean;
}

/** A case with Tributary's verdict. */
export interface AgreementResult extends AgreementCase {
  actualValid: boolean;
  agrees: boolean;
  /** Our first error (for the detail list). */
  firstError?: string;
}

interface ManifestCase {
  name: string;
  file: string;
  version?: string;
  module?: string;
  java?: string | { outcome?: string };
  'use-test'?: boolean;
  packages?: string[];
}

const SERVER_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-server';

/** The R4 JSON cases of a fhir-test-cases checkout's `validator` folder. */
export function loadCases(validatorDir: string): AgreementCase[] {
  const manifest = JSON.parse(readFileSync(join(validatorDir, 'manifest.json'), 'utf8')) as {
    'test-cases': ManifestCase[];
  };
  const cases: AgreementCase[] = [];
  for (const c of manifest['test-cases']) {
    if (!String(c.version ?? '').startsWith('4.0') || !c.file.endsWith('.json') || c['use-test'] === false) continue;
    const outcomeFile = typeof c.java === 'string' ? c.java : undefined;
    if (!outcomeFile) continue;
    const path = join(validatorDir, 'outcomes', outcomeFile);
    if (!existsSync(path) || !existsSync(join(validatorDir, c.file))) continue;
    const expected = JSON.parse(readFileSync(path, 'utf8')) as OperationOutcome;
    const issues = expected.issue ?? [];
    cases.push({
      name: c.name,
      file: c.file,
      module: c.module ?? 'general',
      expectedValid: !issues.some((i) => i.severity === 'error' || i.severity === 'fatal'),
      needsTx: issues.some((i) => i.extension?.some((e) => e.url === SERVER_EXTENSION)),
      needsPackages: (c.packages?.length ?? 0) > 0,
    });
  }
  return cases;
}

/** Runs Tributary's validation (the write check's rules) on one case. */
export function runCase(validatorDir: string, c: AgreementCase): AgreementResult {
  let actualValid: boolean;
  let firstError: string | undefined;
  try {
    const resource = JSON.parse(readFileSync(join(validatorDir, c.file), 'utf8')) as Resource;
    const errors = errorsOf(validate(resource));
    actualValid = errors.length === 0;
    firstError = errors[0] ? `${errors[0].expression?.[0] ?? ''} ${errors[0].diagnostics ?? ''}`.trim() : undefined;
  } catch (err) {
    actualValid = false;
    firstError = `not parsed: ${(err as Error).message}`;
  }
  return { ...c, actualValid, agrees: actualValid === c.expectedValid, firstError };
}

/** Agreement by module, as a Markdown table: all cases, and those needing no terminology server or packages. */
export function agreementTable(results: AgreementResult[]): string {
  const rows = new Map<string, { all: number; agree: number; local: number; localAgree: number }>();
  const add = (key: string, r: AgreementResult) => {
    const row = rows.get(key) ?? { all: 0, agree: 0, local: 0, localAgree: 0 };
    row.all++;
    if (r.agrees) row.agree++;
    if (!r.needsTx && !r.needsPackages) {
      row.local++;
      if (r.agrees) row.localAgree++;
    }
    rows.set(key, row);
  };
  for (const r of results) {
    add(r.module, r);
    add('ALL', r);
  }
  const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(0)}%` : '–');
  const lines = ['| module | cases | agree | % | no tx/packages | agree | % |', '|---|---|---|---|---|---|---|'];
  const keys = [...rows.keys()].filter((k) => k !== 'ALL').sort();
  for (const k of [...keys, 'ALL']) {
    const r = rows.get(k)!;
    lines.push(
      `| ${k} | ${r.all} | ${r.agree} | ${pct(r.agree, r.all)} | ${r.local} | ${r.localAgree} | ${pct(r.localAgree, r.local)} |`,
    );
  }
  return lines.join('\n');
}
