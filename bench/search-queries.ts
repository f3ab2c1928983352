import type pg from 'pg';

/** What the queries need to know about a stored patient. */
export interface PatientFacts {
  id: string;
  /** `system|value` of its Synthea identifier (unique per patient). */
  identifier: string;
  family: string;
  birthDate: string;
}

/** What the queries draw their values from, read back from the database being measured. */
export interface Facts {
  patients: PatientFacts[];
  /** Birth dates of the 20 youngest patients, youngest first. */
  youngest: string[];
  /** The most frequent Observation code. */
  commonCode: string;
  /** The most frequent Observation codes that together have closest to 10% of all resources as Observations. */
  totalCodes: string[];
}

/** Random numbers from a seed, so that every run draws the same patients. */
export type Random = () => number;

/** mulberry32: a tiny seeded PRNG. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One benchmark query: `build` makes a new instance of it (a query string) per run. */
export interface BenchQuery {
  name: string;
  /** Single-patient searches have the p50 ≤ 5 ms / p99 ≤ 30 ms targets; the `_total` count has ≤ 1 s. */
  kind: 'single' | 'page' | 'count';
  build: (facts: Facts, pick: Random, db: pg.Pool) => Promise<string>;
}

const any = <T>(items: T[], pick: Random): T => items[Math.floor(pick() * items.length)];
const enc = encodeURIComponent;

/** A random code among the patient's own Observations. */
async function codeOf(db: pg.Pool, patient: string, pick: Random): Promise<string> {
  const { rows } = await db.query<{ value: string }>(
    `SELECT t.value FROM sp_reference ref JOIN sp_token t ON t.rid = ref.rid AND t.resource_type = 'Observation' AND t.code = 'code'
     WHERE ref.resource_type = 'Observation' AND ref.code = 'patient' AND ref.target_type = 'Patient' AND ref.target_id = $1`,
    [patient],
  );
  return rows.length ? any(rows, pick).value : 'none';
}

/** The queries, each drawn afresh per run from a random patient. */
export const QUERIES: BenchQuery[] = [
  {
    name: 'Patient?name=<family>',
    kind: 'single',
    build: async (f, p) => `Patient?name=${enc(any(f.patients, p).family)}`,
  },
  {
    name: 'Patient?identifier=<system|value>',
    kind: 'single',
    build: async (f, p) => `Patient?identifier=${enc(any(f.patients, p).identifier)}`,
  },
  {
    name: 'Patient?birthdate=ge<one of the 20 youngest>',
    kind: 'single',
    build: async (f, p) => `Patient?birthdate=ge${any(f.youngest, p)}`,
  },
  {
    name: 'Observation?patient&code&date=ge2015',
    kind: 'single',
    build: async (f, p, db) => {
      const patient = any(f.patients, p).id;
      return `Observation?patient=Patient/${patient}&code=${enc(await codeOf(db, patient, p))}&date=ge2015-01-01`;
    },
  },
  {
    name: 'Observation?subject&_sort=-date&_count=10',
    kind: 'single',
    build: async (f, p) => `Observation?subject=Patient/${any(f.patients, p).id}&_sort=-date&_count=10`,
  },
  {
    name: 'Encounter?patient&_include=Encounter:practitioner',
    kind: 'single',
    build: async (f, p) => `Encounter?patient=Patient/${any(f.patients, p).id}&_include=Encounter:practitioner`,
  },
  {
    name: 'MedicationRequest?patient.identifier=',
    kind: 'single',
    build: async (f, p) => `MedicationRequest?patient.identifier=${enc(any(f.patients, p).identifier)}`,
  },
  {
    name: 'Patient?_has:Observation:patient:code=<most common>',
    kind: 'single',
    build: async (f) => `Patient?_has:Observation:patient:code=${enc(f.commonCode)}`,
  },
  {
    name: 'Patient?birthdate=ge<random patient> (broad, 1st page)',
    kind: 'page',
    build: async (f, p) => `Patient?birthdate=ge${any(f.patients, p).birthDate}`,
  },
  // The patient chart of a clinical UI (issue 15): each p99 ≤ 20 ms at 1M resources.
  {
    name: 'UI: latest vitals (Observation?patient&category=vital-signs&_sort=-date&_count=50)',
    kind: 'single',
    build: async (f, p) => `Observation?patient=${any(f.patients, p).id}&category=vital-signs&_sort=-date&_count=50`,
  },
  {
    name: 'UI: labs by date (Observation?patient&category=laboratory&date=ge2015-01-01&_sort=-date)',
    kind: 'single',
    build: async (f, p) =>
      `Observation?patient=${any(f.patients, p).id}&category=laboratory&date=ge2015-01-01&_sort=-date`,
  },
  {
    name: 'UI: active medications (MedicationRequest?patient&status=active)',
    kind: 'single',
    build: async (f, p) => `MedicationRequest?patient=${any(f.patients, p).id}&status=active`,
  },
  {
    name: 'UI: conditions (Condition?patient&clinical-status=active)',
    kind: 'single',
    build: async (f, p) => `Condition?patient=${any(f.patients, p).id}&clinical-status=active`,
  },
  {
    name: 'UI: encounters (Encounter?patient&_sort=-date&_include=Encounter:practitioner&_include=Encounter:location)',
    kind: 'single',
    build: async (f, p) =>
      `Encounter?patient=${any(f.patients, p).id}&_sort=-date&_include=Encounter:practitioner&_include=Encounter:location`,
  },
  {
    name: 'Observation?code=<~10% of resources>&_total=accurate',
    kind: 'count',
    build: async (f) => `Observation?code=${enc(f.totalCodes.join(','))}&_total=accurate`,
  },
];

/** Reads the facts the queries need from the database. */
export async function readFacts(db: pg.Pool): Promise<Facts> {
  const { rows } = await db.query<{ id: string; content: string }>(
    `SELECT id, content FROM resource WHERE resource_type = 'Patient' AND NOT deleted ORDER BY rid`,
  );
  const patients = rows.map(({ id, content }) => {
    const p = JSON.parse(content) as {
      identifier?: { system?: string; value?: string }[];
      name?: { family?: string }[];
      birthDate: string;
    };
    const ident = p.identifier?.find((i) => i.system === 'https://github.com/synthetichealth/synthea');
    return {
      id,
      identifier: `${ident?.system}|${ident?.value}`,
      family: p.name?.[0]?.family ?? '',
      birthDate: p.birthDate,
    };
  });
  const youngest = patients
    .map((p) => p.birthDate)
    .sort()
    .reverse()
    .slice(0, 20);
  const counts = await db.query<{ value: string; n: number }>(
    `SELECT value, count(*)::int AS n FROM sp_token WHERE resource_type = 'Observation' AND code = 'code'
     GROUP BY value ORDER BY n DESC LIMIT 20`,
  );
  const total = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource`)).rows[0].n;
  const totalCodes: string[] = [];
  let sum = 0;
  for (const { value, n } of counts.rows) {
    if (totalCodes.length && Math.abs(sum + n - total / 10) > Math.abs(sum - total / 10)) break;
    totalCodes.push(value);
    sum += n;
  }
  return { patients, youngest, commonCode: counts.rows[0].value, totalCodes };
}
