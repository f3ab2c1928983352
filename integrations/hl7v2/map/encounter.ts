import type { AllergyIntolerance, Condition, Coverage, Encounter, Procedure } from '@medplum/fhirtypes';
import type { V2Segment } from '../parse/message.ts';
import { clean, cweConcept, cxIdentifier, tableCoding } from './datatypes.ts';
import { v2Time } from './dtm.ts';
import { derivedIdentifier, patientRef, practitioner, type MappingContext } from './context.ts';
import {
  ALLERGY_CATEGORY_0127,
  ALLERGY_CRITICALITY_0128,
  ENCOUNTER_STATUS_BY_EVENT,
  PATIENT_CLASS_0004,
  V3_ACT_CODE,
} from './vocab.ts';

/**
 * PV1 (and PV2) → Encounter (IG: PV1[Encounter]), conditionally on the visit number PV1-19, else on the patient and
 * admit time (PV1-44). Without either it names no Encounter. Status from the trigger event (A03: finished …).
 */
export function mapEncounter(pv1: V2Segment, ctx: MappingContext, pv2?: V2Segment): string | undefined {
  const tz = ctx.feed.timeZone;
  const visit = cxIdentifier(pv1.field(19), ctx);
  const admit = v2Time(pv1.get(44), tz);
  const patientId = ctx.message.segment('PID')?.get(3) ?? '';
  const identifier =
    visit ?? (admit && patientId ? derivedIdentifier(ctx, 'encounter', patientId, pv1.get(44)) : undefined);
  if (!identifier) return undefined;
  const cls = PATIENT_CLASS_0004[pv1.get(2).toUpperCase()];
  const discharge = v2Time(pv1.get(45), tz);
  const trigger = ctx.message.header.triggerEvent;
  const participants = [
    [7, 'ATND'],
    [8, 'REF'],
    [9, 'CON'],
    [17, 'ADM'],
  ] as const;
  const encounter: Encounter = {
    resourceType: 'Encounter',
    identifier: [identifier],
    status: (discharge ? 'finished' : (ENCOUNTER_STATUS_BY_EVENT[trigger] ?? 'unknown')) as Encounter['status'],
    class: cls
      ? { system: V3_ACT_CODE, ...cls }
      : (tableCoding(pv1.get(2), '0004') ?? { system: V3_ACT_CODE, code: 'AMB', display: 'ambulatory' }),
    type: pv1.get(4) ? [cweConcept(pv1.field(4), '0007')!] : undefined,
    serviceType: cweConcept(pv1.field(10), '0069'),
    subject: patientRef(ctx),
    participant: participants
      .flatMap(([field, code]) =>
        pv1.reps(field).map((f) => {
          const who = practitioner(ctx, f);
          return who?.reference
            ? {
                type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code }] }],
                individual: who,
              }
            : undefined;
        }),
      )
      .filter((p) => p !== undefined),
    period: { start: admit?.value, end: discharge?.value },
    reasonCode: pv2?.get(3) ? [cweConcept(pv2.field(3))!] : undefined,
    hospitalization: clean({
      admitSource: cweConcept(pv1.field(14), '0023'),
      reAdmission: cweConcept(pv1.field(13), '0092'),
      dischargeDisposition: cweConcept(pv1.field(36), '0112'),
    }),
    location: pv1.get(3, 1)
      ? [
          {
            location: {
              display: [pv1.get(3, 4), pv1.get(3, 1), pv1.get(3, 2), pv1.get(3, 3)].filter(Boolean).join(' '),
            },
          },
        ]
      : undefined,
  };
  return ctx.builder.add(clean(encounter)!, { identifier });
}

/** AL1 → AllergyIntolerance, conditionally on AL1's allergen code for this patient (IG: AL1[AllergyIntolerance]). */
export function mapAllergy(al1: V2Segment, ctx: MappingContext): void {
  const code = cweConcept(al1.field(3));
  if (!code || !ctx.patient) return;
  const identifier = derivedIdentifier(ctx, 'allergy', patientKey(ctx), al1.get(3, 1) || al1.get(3, 2));
  const category = ALLERGY_CATEGORY_0127[al1.get(2).toUpperCase()];
  const severity = al1.get(4).toUpperCase();
  const allergy: AllergyIntolerance = {
    resourceType: 'AllergyIntolerance',
    identifier: [identifier],
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }],
    },
    verificationStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }],
    },
    category: category ? [category] : undefined,
    criticality: ALLERGY_CRITICALITY_0128[severity],
    code,
    patient: { reference: ctx.patient },
    onsetDateTime: v2Time(al1.get(6), ctx.feed.timeZone)?.value,
    reaction: al1.reps(5).length
      ? [
          {
            manifestation: al1.reps(5).map((f) => ({ text: f.get(1) })),
            severity:
              severity === 'SV' ? 'severe' : severity === 'MO' ? 'moderate' : severity === 'MI' ? 'mild' : undefined,
          },
        ]
      : undefined,
  };
  ctx.builder.add(clean(allergy)!, { identifier });
}

/** DG1 → Condition (encounter diagnosis), conditionally on DG1-20 or the diagnosis code for this patient. */
export function mapDiagnosis(dg1: V2Segment, ctx: MappingContext): void {
  const code = cweConcept(dg1.field(3));
  if (!code || !ctx.patient) return;
  const identifier =
    cxIdentifier(dg1.field(20), ctx) ??
    derivedIdentifier(ctx, 'condition', patientKey(ctx), dg1.get(3, 1) || dg1.get(3, 2));
  const condition: Condition = {
    resourceType: 'Condition',
    identifier: [identifier],
    category: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis' }] },
    ],
    code,
    subject: { reference: ctx.patient },
    encounter: ctx.encounter ? { reference: ctx.encounter } : undefined,
    onsetDateTime: v2Time(dg1.get(5), ctx.feed.timeZone)?.value,
    recordedDate: v2Time(dg1.get(19), ctx.feed.timeZone)?.value,
  };
  ctx.builder.add(clean(condition)!, { identifier });
}

/** PR1 → Procedure, conditionally on PR1-19 or the procedure code and time for this patient. */
export function mapProcedure(pr1: V2Segment, ctx: MappingContext): void {
  const code = cweConcept(pr1.field(3));
  if (!code || !ctx.patient) return;
  const identifier = eiOrDerived(pr1, 19, ctx, 'procedure', pr1.get(3, 1), pr1.get(5));
  const procedure: Procedure = {
    resourceType: 'Procedure',
    identifier: [identifier],
    status: 'completed',
    code,
    subject: { reference: ctx.patient },
    encounter: ctx.encounter ? { reference: ctx.encounter } : undefined,
    performedDateTime: v2Time(pr1.get(5), ctx.feed.timeZone)?.value,
  };
  ctx.builder.add(clean(procedure)!, { identifier });
}

/** IN1 → Coverage, conditionally on the policy number IN1-36 (else the plan IN1-2) for this patient. */
export function mapCoverage(in1: V2Segment, ctx: MappingContext): void {
  if (!ctx.patient) return;
  const policy = in1.get(36) || in1.get(2, 1);
  if (!policy) return;
  const identifier = derivedIdentifier(ctx, 'coverage', patientKey(ctx), in1.get(3, 1), policy);
  const coverage: Coverage = {
    resourceType: 'Coverage',
    identifier: [identifier],
    status: 'active',
    type: cweConcept(in1.field(15), '0086'),
    beneficiary: { reference: ctx.patient },
    payor: [{ display: in1.get(4, 1) || in1.get(3, 1) || 'unknown payor' }],
    period: {
      start: v2Time(in1.get(12), ctx.feed.timeZone)?.value,
      end: v2Time(in1.get(13), ctx.feed.timeZone)?.value,
    },
    subscriberId: in1.get(49, 1) || undefined,
    relationship: cweConcept(in1.field(17), '0063'),
  };
  ctx.builder.add(clean(coverage)!, { identifier });
}

function eiOrDerived(seg: V2Segment, field: number, ctx: MappingContext, kind: string, ...parts: string[]) {
  const id = seg.get(field);
  return id
    ? { system: `urn:tributary:v2:${kind}`, value: id }
    : derivedIdentifier(ctx, kind, patientKey(ctx), ...parts);
}

/** The patient's first identifier, to scope derived identifiers to one patient. */
export function patientKey(ctx: MappingContext): string {
  const pid = ctx.message.segment('PID');
  return `${pid?.get(3, 1) ?? ''}^${pid?.get(3, 4) ?? ''}`;
}
