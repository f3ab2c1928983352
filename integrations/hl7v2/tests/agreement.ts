import type { Bundle, Resource } from '@medplum/fhirtypes';

/** Per field: how many expected values there were, and how many of ours meant the same. */
export type Agreement = Map<string, { compared: number; agreed: number }>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- resources of any type, walked by field name
type R = Record<string, any>;

const of = (b: Bundle, type: string): R[] =>
  (b.entry ?? []).map((e) => e.resource as Resource).filter((r) => r?.resourceType === type) as R[];
const code = (cc: R | undefined): string | undefined => cc?.coding?.[0]?.code ?? undefined;
const codes = (cc: R | undefined): string[] => (cc?.coding ?? []).map((c: R) => c.code).filter(Boolean);
const lower = (s: unknown) => (typeof s === 'string' ? s.trim().toLowerCase() : s);

/** Same moment (instants with offsets), or the same text (dates). */
function sameTime(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  if (a.length <= 10 || b.length <= 10) return a.slice(0, 10) === b.slice(0, 10);
  return Date.parse(a) === Date.parse(b);
}

function valueOf(o: R): string | undefined {
  if (o.valueQuantity)
    return `${Number(o.valueQuantity.value)} ${o.valueQuantity.code ?? o.valueQuantity.unit ?? ''}`.trim();
  if (o.valueString !== undefined) return String(o.valueString).replace(/\s+/g, ' ').trim();
  if (o.valueCodeableConcept) return code(o.valueCodeableConcept) ?? o.valueCodeableConcept.text;
  if (o.valueDateTime) return o.valueDateTime;
  return undefined;
}

/**
 * Compares the meaning of key fields of our Bundle with a vendor's expected one (not bytes: identifiers by value,
 * names by family and first given, codes by code, values with units, times by moment, statuses) and counts them.
 */
export function compare(expected: Bundle, ours: Bundle, tally: Agreement): void {
  const count = (field: string, exp: unknown, agree: boolean) => {
    if (exp === undefined || exp === null || (Array.isArray(exp) && exp.length === 0)) return;
    const t = tally.get(field) ?? { compared: 0, agreed: 0 };
    t.compared++;
    if (agree) t.agreed++;
    tally.set(field, t);
  };
  const [ep] = of(expected, 'Patient');
  const [op] = of(ours, 'Patient');
  if (ep) {
    const ids = new Set((op?.identifier ?? []).map((i: R) => i.value));
    count(
      'Patient.identifier (values)',
      ep.identifier,
      (ep.identifier ?? []).every((i: R) => ids.has(i.value)),
    );
    count(
      'Patient.name (family, given)',
      ep.name?.[0]?.family ?? ep.name?.[0]?.given,
      lower(ep.name?.[0]?.family) === lower(op?.name?.[0]?.family) &&
        lower(ep.name?.[0]?.given?.[0]) === lower(op?.name?.[0]?.given?.[0]),
    );
    count('Patient.birthDate', ep.birthDate, ep.birthDate === op?.birthDate);
    count('Patient.gender', ep.gender, ep.gender === op?.gender);
  }
  const [ee] = of(expected, 'Encounter');
  const [oe] = of(ours, 'Encounter');
  if (ee) {
    count('Encounter.class', ee.class?.code, ee.class?.code === oe?.class?.code);
    count('Encounter.status', ee.status, ee.status === oe?.status);
    count('Encounter.period.start', ee.period?.start, sameTime(ee.period?.start, oe?.period?.start));
  }
  const ourObs = of(ours, 'Observation');
  for (const eo of of(expected, 'Observation')) {
    const c = code(eo.code);
    const match = ourObs.find((o) => codes(o.code).includes(c ?? '\u0000'));
    count('Observation.code', c, !!match);
    if (!match) continue;
    count('Observation.value (with unit)', valueOf(eo), lower(valueOf(eo)) === lower(valueOf(match)));
    count('Observation.status', eo.status, eo.status === match.status);
    count('Observation.effective', eo.effectiveDateTime, sameTime(eo.effectiveDateTime, match.effectiveDateTime));
    count(
      'Observation.interpretation',
      code(eo.interpretation?.[0]),
      code(eo.interpretation?.[0]) === code(match.interpretation?.[0]),
    );
  }
  const simple: [string, string, (r: R) => unknown][] = [
    ['DiagnosticReport', 'code', (r) => code(r.code)],
    ['DiagnosticReport', 'status', (r) => r.status],
    ['DiagnosticReport', 'effective', (r) => r.effectiveDateTime],
    ['ServiceRequest', 'code', (r) => code(r.code)],
    ['ServiceRequest', 'status', (r) => r.status],
    [
      'ServiceRequest',
      'identifier (values)',
      (r) =>
        (r.identifier ?? [])
          .map((i: R) => i.value)
          .sort()
          .join(','),
    ],
    ['Immunization', 'vaccineCode', (r) => code(r.vaccineCode)],
    ['Immunization', 'status', (r) => r.status],
    ['Immunization', 'occurrence', (r) => r.occurrenceDateTime],
    ['Appointment', 'status', (r) => r.status],
    ['Appointment', 'start', (r) => r.start],
    ['DocumentReference', 'type', (r) => code(r.type)],
    ['DocumentReference', 'status', (r) => r.status],
    ['MedicationRequest', 'medication', (r) => code(r.medicationCodeableConcept)],
    ['MedicationRequest', 'status', (r) => r.status],
    ['AllergyIntolerance', 'code', (r) => code(r.code)],
    ['Condition', 'code', (r) => code(r.code)],
  ];
  const medicationCode = (b: Bundle) => (r: R) =>
    code(r.medicationCodeableConcept) ??
    code(of(b, 'Medication').find((m) => `Medication/${m.id}` === r.medicationReference?.reference || true)?.code);
  for (const [type, field, get] of simple) {
    const exp = of(expected, type);
    if (exp.length === 0) continue;
    const mine = of(ours, type);
    for (const e of exp) {
      const getter = field === 'medication' ? medicationCode(expected) : get;
      const mineGetter = field === 'medication' ? medicationCode(ours) : get;
      const v = getter(e);
      const isTime = ['effective', 'occurrence', 'start'].includes(field);
      count(
        `${type}.${field}`,
        v,
        mine.some((m) => (isTime ? sameTime(v as string, mineGetter(m) as string) : v === mineGetter(m))),
      );
    }
  }
}

/** The tally as a Markdown table, worst agreement first. */
export function table(tally: Agreement): string {
  const rows = [...tally.entries()].sort((a, b) => a[1].agreed / a[1].compared - b[1].agreed / b[1].compared);
  return [
    '| field | compared | agreed | % |',
    '|---|---:|---:|---:|',
    ...rows.map(([f, t]) => `| ${f} | ${t.compared} | ${t.agreed} | ${((100 * t.agreed) / t.compared).toFixed(0)} |`),
  ].join('\n');
}
