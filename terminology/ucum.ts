import ucum from '@lhncbc/ucum-lhc';

/**
 * UCUM through @lhncbc/ucum-lhc (the NLM's implementation, with the full UCUM tables): unit validation for
 * `http://unitsofmeasure.org` codes, conversion between commensurable units, and the canonical form (base units) that
 * quantity search compares.
 */
const utils = ucum.UcumLhcUtils.getInstance();

/** Longest unit expression judged (the parser's work grows with it). */
const MAX_UNIT_LENGTH = 256;

/** Whether a unit expression is valid UCUM, with its name or the parser's message. */
export function validateUnit(unit: string): { valid: boolean; display?: string; message?: string } {
  if (unit.length === 0 || unit.length > MAX_UNIT_LENGTH)
    return { valid: false, message: 'Not a UCUM unit expression' };
  const r = utils.validateUnitString(unit, false);
  if (r.status === 'valid') return { valid: true, display: r.unit?.name ?? unit };
  return { valid: false, message: (r.msg ?? []).join('; ') || `"${unit}" is not a valid UCUM unit` };
}

/** `value` in unit `from` converted to unit `to`, or undefined when the units are not commensurable (or invalid). */
export function convertUnit(value: number, from: string, to: string): number | undefined {
  if (from.length > MAX_UNIT_LENGTH || to.length > MAX_UNIT_LENGTH) return undefined;
  const r = utils.convertUnitTo(from, value, to);
  return r.status === 'succeeded' && typeof r.toVal === 'number' ? r.toVal : undefined;
}

/**
 * A value in base units: the factor and the canonical unit (base units with exponents, sorted: `g.m-3` for mg/dL),
 * or undefined for invalid and special (non-ratio, e.g. Cel, [pH]) units.
 */
export function canonicalForm(value: number, unit: string): { value: number; unit: string } | undefined {
  if (unit.length === 0 || unit.length > MAX_UNIT_LENGTH) return undefined;
  const r = utils.convertToBaseUnits(unit, value);
  if (r.status !== 'succeeded' || r.fromUnitIsSpecial || typeof r.magnitude !== 'number') return undefined;
  const parts = Object.entries(r.unitToExp as Record<string, number>)
    .filter(([, exp]) => exp !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([u, exp]) => (exp === 1 ? u : `${u}${exp}`));
  return { value: r.magnitude, unit: parts.length ? parts.join('.') : '1' };
}
