/**
 * UCUM-aware quantity search for the common units of clinical data: a search in one unit matches values stored in
 * another unit of the same dimension (`5|http://unitsofmeasure.org|g` finds 5000 mg). A small table rather than a
 * full UCUM parser: it covers mass, volume, length, time and concentration with their usual prefixes; other units
 * match only themselves.
 */
export const UCUM = 'http://unitsofmeasure.org';

const DIMENSIONS: Record<string, number>[] = [
  { kg: 1e3, g: 1, mg: 1e-3, ug: 1e-6, ng: 1e-9, pg: 1e-12 },
  { L: 1, dL: 1e-1, cL: 1e-2, mL: 1e-3, uL: 1e-6 },
  { km: 1e3, m: 1, cm: 1e-2, mm: 1e-3, um: 1e-6, '[in_i]': 0.0254, '[ft_i]': 0.3048 },
  { s: 1, ms: 1e-3, min: 60, h: 3600, d: 86400, wk: 604800, mo: 2629746, a: 31556952 },
  {
    'g/L': 1,
    'mg/L': 1e-3,
    'ug/L': 1e-6,
    'ng/L': 1e-9,
    'g/dL': 10,
    'mg/dL': 1e-2,
    'ug/dL': 1e-5,
    'mg/mL': 1,
    'ug/mL': 1e-3,
    'ng/mL': 1e-6,
  },
  { 'mol/L': 1, 'mmol/L': 1e-3, 'umol/L': 1e-6, 'nmol/L': 1e-9, 'pmol/L': 1e-12 },
];

/**
 * The units of the same dimension as `unit`, each with the factor that converts a value in it to `unit`; undefined
 * when the unit is not in the table.
 */
export function ucumConversions(unit: string): [unit: string, factor: number][] | undefined {
  const dimension = DIMENSIONS.find((d) => unit in d);
  if (!dimension) return undefined;
  return Object.entries(dimension).map(([u, f]) => [u, f / dimension[unit]]);
}
