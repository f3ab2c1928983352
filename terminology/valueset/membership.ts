import type { Coding } from '@medplum/fhirtypes';
import type { CodeSystemHandle } from '../codesystem/handle.ts';
import { OwnParams, UCUM_SYSTEM, type ConceptRow, type FlatConcept, type Queryable } from '../model.ts';
import { resolveCodeSystem } from '../resolve.ts';
import { runSql } from '../sql.ts';
import { validateUnit } from '../ucum.ts';
import type { Compiled } from './compose.ts';
import { PART_COLUMNS, partSql, type Part } from './parts.ts';

/** What checking one Coding found. */
export interface CodingCheck {
  valid: boolean;
  /** The code's system is one this server does not hold: the code could not be judged (never reported as invalid). */
  unknownSystem?: string;
  /** The display given differs from every display the system has for the code. */
  wrongDisplay?: boolean;
  inactive?: boolean;
  message?: string;
  system?: string;
  version?: string;
  code?: string;
  /** The system's display for the code. */
  display?: string;
}

/** Whether a display matches one of the concept's (case and spacing ignored), as the HL7 validator compares them. */
function displayMatches(given: string, concept: FlatConcept): boolean {
  const norm = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase();
  const g = norm(given);
  return [concept.display, ...(concept.designations ?? []).map((d) => d.value)].some((d) => d && norm(d) === g);
}

/** A code checked against its code system alone (CodeSystem/$validate-code, and the first step of ValueSet's). */
export async function checkInSystem(
  db: Queryable,
  coding: Coding,
  handle?: CodeSystemHandle,
): Promise<CodingCheck & { concept?: FlatConcept }> {
  const { system, code } = coding;
  if (!code) return { valid: false, message: 'No code given' };
  if (!system) return { valid: false, code, message: `The code "${code}" has no system` };
  const cs = handle ?? (await resolveCodeSystem(db, system, coding.version));
  if (!cs) {
    if (system === UCUM_SYSTEM) {
      const unit = validateUnit(code);
      return unit.valid
        ? { valid: true, system, code, display: unit.display }
        : { valid: false, system, code, message: `"${code}" is not a valid UCUM unit: ${unit.message}` };
    }
    return {
      valid: false,
      unknownSystem: system,
      system,
      code,
      message: `The code system ${system} is not known to this server, so the code "${code}" cannot be checked`,
    };
  }
  const concept = await cs.find(db, code);
  const base = { system, version: cs.version, code };
  if (!concept) {
    if (cs.header.content !== 'complete' && cs.header.content !== undefined)
      return {
        ...base,
        valid: true,
        message: `${system} is a ${cs.header.content} code system here; "${code}" is not in it`,
      };
    return { ...base, valid: false, message: `Unknown code "${code}" in the code system ${system}` };
  }
  const wrongDisplay = coding.display !== undefined && !displayMatches(coding.display, concept);
  return {
    ...base,
    code: concept.code,
    valid: !wrongDisplay,
    concept,
    display: concept.display,
    inactive: concept.inactive || undefined,
    wrongDisplay: wrongDisplay || undefined,
    message: wrongDisplay
      ? `Wrong display "${coding.display}" for ${system}#${concept.code}: should be "${concept.display ?? ''}"`
      : undefined,
  };
}

/** Whether a part holds (system, code). */
export async function partHolds(
  db: Queryable,
  part: Part,
  system: string,
  code: string,
): Promise<ConceptRow | undefined> {
  if ('rows' in part) return part.rows.find((r) => r.system === system && r.code === code);
  const p = new OwnParams();
  const sql = partSql(part, p);
  const rows = await runSql<ConceptRow>(
    db,
    `SELECT ${PART_COLUMNS} FROM (${sql}) m WHERE system = ${p.add(system)} AND code = ${p.add(code)} LIMIT 1`,
    p.values,
  );
  return rows[0];
}

/** The one system a compiled ValueSet draws from, for a code given without one. */
function onlySystem(compiled: Compiled): string | undefined {
  const systems = new Set([...compiled.usedSystems].map((s) => s.split('|')[0]));
  compiled.openSystems.forEach((s) => systems.add(s));
  if ('rows' in compiled.part) compiled.part.rows.forEach((r) => systems.add(r.system));
  return systems.size === 1 ? [...systems][0] : undefined;
}

/**
 * A Coding checked against a compiled ValueSet: the code must exist in its system (when the system is held) and be a
 * member of the ValueSet. A code of a system the ValueSet includes whole or by filter but this server does not hold is
 * reported as unknown, not invalid.
 */
export async function checkInValueSet(
  db: Queryable,
  compiled: Compiled,
  coding: Coding,
  options: { activeOnly?: boolean; abstractAllowed?: boolean } = {},
): Promise<CodingCheck> {
  const system = coding.system ?? (coding.code ? onlySystem(compiled) : undefined);
  const inSystem = await checkInSystem(db, { ...coding, system });
  if (!inSystem.valid && !inSystem.unknownSystem && !inSystem.wrongDisplay) return inSystem;
  const code = inSystem.code ?? (coding.code as string);
  const member = await partHolds(db, compiled.part, system as string, code);
  if (!member) {
    if (compiled.openSystems.has(system as string)) {
      if (system === UCUM_SYSTEM) return inSystem;
      return { ...inSystem, valid: false, unknownSystem: system };
    }
    const { unknownSystem: _u, ...rest } = inSystem;
    return {
      ...rest,
      valid: false,
      message: `The code ${system}#${code} is not in the value set${inSystem.unknownSystem ? ` (and ${system} is not known to this server)` : ''}`,
    };
  }
  if (options.activeOnly && (member.inactive || inSystem.inactive))
    return { ...inSystem, valid: false, message: `The code ${system}#${code} is inactive` };
  if (member.abstract && options.abstractAllowed === false)
    return { ...inSystem, valid: false, message: `The code ${system}#${code} is abstract and not for use in data` };
  if (inSystem.unknownSystem) return { ...inSystem, valid: true, unknownSystem: undefined, display: member.display };
  return { ...inSystem, display: inSystem.display ?? member.display };
}
