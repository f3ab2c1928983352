import type pg from 'pg';

/** What the corpus draws its values from, read from the database being measured. */
export interface DosFacts {
  patients: { id: string; family: string }[];
  /** The most frequent Observation codes (up to 100). */
  codes: string[];
}

/** Reads the facts of a loaded database. */
export async function readDosFacts(db: pg.Pool): Promise<DosFacts> {
  const patients = await db.query<{ id: string; family: string }>(
    `SELECT r.id, min(s.value) AS family FROM resource r JOIN sp_string s ON s.rid = r.rid AND s.code = 'family'
     WHERE r.resource_type = 'Patient' AND NOT r.deleted GROUP BY r.id, r.rid ORDER BY r.rid LIMIT 500`,
  );
  const codes = await db.query<{ value: string }>(
    `SELECT value FROM sp_token WHERE resource_type = 'Observation' AND code = 'code' GROUP BY value ORDER BY count(*) DESC LIMIT 100`,
  );
  return { patients: patients.rows, codes: codes.rows.map((r) => r.value) };
}

/**
 * One query of the corpus: `refused` ones must answer 400 at once (a limit), `answered` ones with their matches or,
 * at worst, 503 at the search timeout.
 */
export interface DosQuery {
  name: string;
  expect: 'refused' | 'answered';
  build: (facts: DosFacts) => string;
}

const repeat = (part: string, n: number, sep: string) => Array.from({ length: n }, () => part).join(sep);
const nestedHas = (n: number) => repeat('_has:Observation:has-member', n, ':');

/**
 * Issue 13 item 7's pathological searches (refused by the limits), and the most expensive searches still inside the
 * limits (answered): the default limits' corners, full-text scans, every-type searches.
 */
export const DOS_CORPUS: DosQuery[] = [
  {
    name: 'untyped chain, 8 links',
    expect: 'refused',
    build: () => `Observation?${repeat('part-of', 8, '.')}.status=final`,
  },
  {
    name: 'untyped chain, 6 links',
    expect: 'refused',
    build: () => `Observation?${repeat('part-of', 6, '.')}.status=final`,
  },
  {
    name: 'chain via Reference(Any), 4 links',
    expect: 'refused',
    build: () => `Library?${repeat('derived-from', 4, '.')}.url=x`,
  },
  {
    name: 'chain via Reference(Any), 2 links',
    expect: 'refused',
    build: () => 'Library?derived-from.derived-from.url=x',
  },
  { name: '_has nested 13 levels', expect: 'refused', build: () => `Observation?${nestedHas(13)}:status=final` },
  { name: '_has nested 50 levels', expect: 'refused', build: () => `Observation?${nestedHas(50)}:status=final` },
  { name: '300 ANDed code=', expect: 'refused', build: (f) => `Observation?${repeat(`code=${f.codes[0]}`, 300, '&')}` },
  { name: '1,000 name=', expect: 'refused', build: () => `Patient?${repeat('name=a', 1000, '&')}` },
  { name: '_sort with 200 keys', expect: 'refused', build: () => `Observation?_sort=${repeat('date', 200, ',')}` },
  {
    name: '101 ORed codes',
    expect: 'refused',
    build: (f) => `Observation?code=${[...f.codes, ...f.codes].slice(0, 101).join(',')}`,
  },
  {
    name: 'untyped chain, 3 links (30 branches)',
    expect: 'answered',
    build: () => `Observation?${repeat('part-of', 3, '.')}.status=final`,
  },
  {
    name: 'chain via Reference(Any) (112 branches)',
    expect: 'answered',
    build: (f) => `Provenance?target.identifier=${f.patients[0].id}`,
  },
  {
    name: 'system search of 4 types, chained',
    expect: 'answered',
    build: (f) => `?_type=Observation,Condition,Encounter,Procedure&patient.family=${f.patients[0].family}`,
  },
  {
    name: '_has nested 3 levels',
    expect: 'answered',
    build: () => `Patient?_has:Observation:subject:${nestedHas(2)}:status=final`,
  },
  {
    name: '_has 3 levels, _total=accurate',
    expect: 'answered',
    build: () => `Patient?_has:Observation:subject:${nestedHas(2)}:status=final&_total=accurate`,
  },
  {
    name: '_has, _total=estimate',
    expect: 'answered',
    build: (f) => `Patient?_has:Observation:patient:code=${f.codes[0]}&_total=estimate`,
  },
  {
    name: '50 ANDed code= (distinct)',
    expect: 'answered',
    build: (f) =>
      `Observation?${[...f.codes, ...f.codes]
        .slice(0, 50)
        .map((c) => `code=${c}`)
        .join('&')}`,
  },
  {
    name: '50 ANDed name= (one family)',
    expect: 'answered',
    build: (f) => `Patient?${repeat(`name=${f.patients[0].family}`, 50, '&')}`,
  },
  {
    name: '100 ORed codes, _total=accurate',
    expect: 'answered',
    build: (f) => `Observation?code=${f.codes.join(',')}&_total=accurate`,
  },
  {
    name: '_sort with 5 keys',
    expect: 'answered',
    build: () => 'Observation?_sort=-date,code,status,value-quantity,_id',
  },
  { name: '_text on every Observation', expect: 'answered', build: () => 'Observation?_text=pressure' },
  { name: '_content on every type', expect: 'answered', build: () => '?_content=zzyzx' },
  { name: '_revinclude=* of 50 patients', expect: 'answered', build: () => 'Patient?_revinclude=*&_count=50' },
  {
    name: 'every type, _total=accurate',
    expect: 'answered',
    build: () => '?_lastUpdated=gt2000-01-01&_total=accurate',
  },
];
