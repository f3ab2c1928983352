import type {
  AllergyIntolerance,
  CodeableConcept,
  Communication,
  Condition,
  Encounter,
  MedicationRequest,
  Observation,
  Patient,
  Procedure,
  Quantity,
  Resource,
} from '@medplum/fhirtypes';

/** What a note is drafted from: the encounter and what the caller may read of its record. */
export interface NoteInputs {
  encounter: Encounter;
  patient?: Patient;
  observations: Observation[];
  conditions: Condition[];
  procedures: Procedure[];
  medications: MedicationRequest[];
  allergies: AllergyIntolerance[];
  communications: Communication[];
  /** Kinds of input left out because the caller may not read them (`Observation`). */
  withheld: string[];
}

/** Every input resource, the encounter first. */
export function inputResources(inputs: NoteInputs): Resource[] {
  return [
    inputs.encounter,
    ...(inputs.patient ? [inputs.patient] : []),
    ...inputs.observations,
    ...inputs.conditions,
    ...inputs.procedures,
    ...inputs.medications,
    ...inputs.allergies,
    ...inputs.communications,
  ];
}

/**
 * The facts of a record as short lines of text, each value written exactly as it is stored (numbers as in the JSON,
 * dates as their first ten characters), so a draft built from them passes the value checker. The offline generator
 * writes them into its sections; the language model gets them as its only source.
 */
export const describe = {
  encounter(e: Encounter): string {
    const what = [text(e.type?.[0]), e.class?.display ?? e.class?.code].filter(Boolean).join(', ') || 'Encounter';
    const when = e.period?.start ? ` on ${day(e.period.start)}` : '';
    const why = e.reasonCode?.length ? `; reason: ${e.reasonCode.map(text).filter(Boolean).join(', ')}` : '';
    return `${what}${when} (status ${e.status})${why}`;
  },
  patient(p: Patient): string {
    return [p.gender, p.birthDate ? `born ${p.birthDate}` : undefined].filter(Boolean).join(', ');
  },
  observation(o: Observation): string {
    const when = o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.issued;
    const parts = (o.component ?? []).map((c) => `${text(c.code)} ${value(c)}`.trim()).filter(Boolean);
    const main = value(o);
    const shown = [main, ...parts].filter(Boolean).join('; ');
    return `${text(o.code)}${shown ? `: ${shown}` : ''}${when ? ` (${day(when)})` : ''}`;
  },
  condition(c: Condition): string {
    const status = text(c.clinicalStatus);
    const onset = c.onsetDateTime ?? c.recordedDate;
    return `${text(c.code)}${status ? `, ${status}` : ''}${onset ? `, since ${day(onset)}` : ''}`;
  },
  procedure(p: Procedure): string {
    const when = p.performedDateTime ?? p.performedPeriod?.start;
    return `${text(p.code)}${when ? ` (${day(when)})` : ''}${p.status ? `, ${p.status}` : ''}`;
  },
  medication(m: MedicationRequest): string {
    const name = text(m.medicationCodeableConcept) || m.medicationReference?.display || 'a medication';
    const dosage = (m.dosageInstruction ?? []).map((d) => {
      if (d.text) return d.text;
      const dose = d.doseAndRate?.[0]?.doseQuantity;
      const r = d.timing?.repeat;
      const every =
        r?.frequency !== undefined && r.period !== undefined
          ? `${r.frequency} per ${r.period} ${r.periodUnit ?? ''}`
          : '';
      return [dose ? `dose ${quantity(dose)}` : '', every, d.asNeededBoolean ? 'as needed' : '']
        .filter(Boolean)
        .join(', ');
    });
    const shown = dosage.filter(Boolean).join('; ');
    return `${name}${shown ? ` (${shown})` : ''}${m.status ? `, ${m.status}` : ''}`;
  },
  allergy(a: AllergyIntolerance): string {
    const reactions = (a.reaction ?? []).flatMap((r) => r.manifestation.map(text)).filter(Boolean);
    const criticality = a.criticality ? `, criticality ${a.criticality}` : '';
    return `${text(a.code)}${criticality}${reactions.length ? `; reactions: ${reactions.join(', ')}` : ''}`;
  },
  communication(c: Communication): string {
    const content = (c.payload ?? [])
      .map((p) => p.contentString)
      .filter(Boolean)
      .join(' ');
    return `${c.sent ? `${day(c.sent)}: ` : ''}${content || text(c.topic) || 'a message'}`;
  },
};

/** The text of a concept: its `text`, else its first coding's display, else its first code. */
export function text(concept: CodeableConcept | undefined): string {
  if (!concept) return '';
  return concept.text ?? concept.coding?.find((c) => c.display)?.display ?? concept.coding?.[0]?.code ?? '';
}

/** The date part of a FHIR date or dateTime, as written (no time-zone shift). */
export function day(dateTime: string): string {
  return dateTime.slice(0, 10);
}

function quantity(q: Quantity): string {
  return [q.comparator, q.value === undefined ? undefined : String(q.value), q.unit ?? q.code]
    .filter(Boolean)
    .join(' ');
}

type Valued = Pick<
  Observation,
  'valueQuantity' | 'valueCodeableConcept' | 'valueString' | 'valueBoolean' | 'valueInteger'
>;

function value(v: Valued): string {
  if (v.valueQuantity) return quantity(v.valueQuantity);
  if (v.valueCodeableConcept) return text(v.valueCodeableConcept);
  if (v.valueString !== undefined) return v.valueString;
  if (v.valueInteger !== undefined) return String(v.valueInteger);
  if (v.valueBoolean !== undefined) return v.valueBoolean ? 'yes' : 'no';
  return '';
}
