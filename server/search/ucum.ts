import { convertUnit } from '../../terminology/ucum.ts';

/**
 * UCUM-aware quantity search: a search in one unit matches values stored in another unit of the same dimension
 * (`5|http://unitsofmeasure.org|g` finds 5000 mg). Conversions come from @lhncbc/ucum-lhc (terminology/ucum.ts); the
 * index keeps the unit as written, so the search lists the units a value may be stored in: the metric prefixes of
 * clinical base units and their concentrations, plus common customary units. Other units match only themselves.
 */
export const UCUM = 'http://unitsofmeasure.org';

const PREFIXES = ['k', '', 'd', 'c', 'm', 'u', 'n', 'p'];
const VOLUMES = ['L', 'dL', 'cL', 'mL', 'uL'];
const CANDIDATES = [
  ...PREFIXES.flatMap((p) => [`${p}g`, `${p}L`, `${p}m`, `${p}mol`, `${p}s`]),
  ...PREFIXES.flatMap((p) => VOLUMES.flatMap((v) => [`${p}g/${v}`, `${p}mol/${v}`])),
  ...[
    'min',
    'h',
    'd',
    'wk',
    'mo',
    'a',
    '[in_i]',
    '[ft_i]',
    '[lb_av]',
    '[oz_av]',
    'Cel',
    '[degF]',
    'K',
    'mm[Hg]',
    'kPa',
  ],
];

const cache = new Map<string, [unit: string, factor: number][] | undefined>();

/**
 * The units of the same dimension as `unit`, each with the factor that converts a value in it to `unit`; undefined
 * when the unit is not one UCUM converts (or has no other candidate unit). Temperatures, which are not ratios of each
 * other, convert only to themselves.
 */
export function ucumConversions(unit: string): [unit: string, factor: number][] | undefined {
  if (cache.has(unit)) return cache.get(unit);
  const found: [string, number][] = [];
  if (convertUnit(1, unit, unit) !== undefined) {
    for (const candidate of new Set([unit, ...CANDIDATES])) {
      const one = convertUnit(1, candidate, unit);
      const zero = convertUnit(0, candidate, unit);
      if (one !== undefined && zero === 0 && Number.isFinite(one) && one > 0)
        found.push([candidate, Number(one.toPrecision(15))]);
    }
  }
  const result = found.length > 1 ? found : undefined;
  if (cache.size < 10_000) cache.set(unit, result);
  return result;
}
