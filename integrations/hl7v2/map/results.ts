import type { DiagnosticReport, Observation, ObservationReferenceRange, Specimen } from '@medplum/fhirtypes';
import type { V2Segment } from '../parse/message.ts';
import { clean, cweConcept, eiIdentifier, quantity } from './datatypes.ts';
import { v2Time } from './dtm.ts';
import { derivedIdentifier, patientRef, practitioner, type MappingContext } from './context.ts';
import { patientKey } from './encounter.ts';
import { mapServiceRequest, notes, orderIdentifiers } from './orders.ts';
import { INTERPRETATION_0078, OBSERVATION_STATUS_0085, REPORT_STATUS_0123, V3_INTERPRETATION } from './vocab.ts';

/**
 * One OBR group of an ORU (OBR with its OBX, NTE and SPM, and the ORC before it) → ServiceRequest, DiagnosticReport,
 * an Observation per OBX, a Specimen per SPM (IG: OBR[DiagnosticReport], OBX[Observation], SPM[Specimen]).
 */
export function mapResultGroup(ctx: MappingContext, obr: V2Segment, members: V2Segment[], orc?: V2Segment): void {
  const tz = ctx.feed.timeZone;
  const request = mapServiceRequest(ctx, orc, obr, obrNotes(members));
  const ids = orderIdentifiers(ctx, orc, obr);
  const reportId = ids[0] ?? derivedIdentifier(ctx, 'report', patientKey(ctx), obr.get(4), obr.get(7));
  const specimens = members.filter((m) => m.name === 'SPM').map((spm) => mapSpecimen(ctx, spm, reportId.value ?? ''));
  const results: string[] = [];
  const presentedForm: DiagnosticReport['presentedForm'] = [];
  let index = 0;
  for (let i = 0; i < members.length; i++) {
    const obx = members[i];
    if (obx.name !== 'OBX') continue;
    index++;
    const after: V2Segment[] = [];
    for (let j = i + 1; j < members.length && members[j].name === 'NTE'; j++) after.push(members[j]);
    if (obx.get(2).toUpperCase() === 'ED') {
      const ed = obx.field(5);
      presentedForm.push(
        clean({
          contentType: mime(ed.get(2), ed.get(3)),
          data: ed.get(4).toUpperCase() === 'BASE64' ? ed.get(5) : undefined,
          title: ed.get(1),
        })!,
      );
      continue;
    }
    const ref = mapObservation(ctx, obx, after, reportId.value ?? '', index, obr, specimens[0]);
    if (ref) results.push(ref);
  }
  const report: DiagnosticReport = {
    resourceType: 'DiagnosticReport',
    identifier: [reportId],
    basedOn: request ? [{ reference: request }] : undefined,
    status: (REPORT_STATUS_0123[obr.get(25).toUpperCase()] ?? 'unknown') as DiagnosticReport['status'],
    category: obr.get(24)
      ? [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: obr.get(24) }] }]
      : undefined,
    code: cweConcept(obr.field(4)) ?? { text: 'unknown' },
    subject: patientRef(ctx),
    encounter: ctx.encounter ? { reference: ctx.encounter } : undefined,
    effectiveDateTime: v2Time(obr.get(7), tz)?.value,
    issued: instant(v2Time(obr.get(22), tz)?.value),
    resultsInterpreter: obr.get(32) ? [practitionerFromNdl(obr)].filter((r) => r !== undefined) : undefined,
    specimen: specimens.map((s) => ({ reference: s })),
    result: results.map((reference) => ({ reference })),
    presentedForm,
  };
  ctx.builder.add(clean(report)!, { identifier: reportId });
}

/** OBX segments outside any order (ADT, VXU): Observations of the patient, keyed on the message's patient. */
export function mapPatientObservations(ctx: MappingContext, obx: V2Segment[]): void {
  obx.forEach((o, i) => mapObservation(ctx, o, [], `patient|${patientKey(ctx)}`, i + 1));
}

/** OBX → Observation, conditionally on OBX-21 or the report's id with the OBX's code, sub-id and place. */
function mapObservation(
  ctx: MappingContext,
  obx: V2Segment,
  nte: V2Segment[],
  reportKey: string,
  index: number,
  obr?: V2Segment,
  specimen?: string,
): string | undefined {
  const tz = ctx.feed.timeZone;
  const code = cweConcept(obx.field(3));
  if (!code) return undefined;
  const identifier =
    eiIdentifier(obx.field(21), ctx) ??
    derivedIdentifier(ctx, 'observation', reportKey, obx.get(3, 1) || obx.get(3, 2), obx.get(4), String(index));
  const flags = obx
    .reps(8)
    .map((f) => f.get(1))
    .filter(Boolean);
  const observation: Observation = {
    resourceType: 'Observation',
    identifier: [identifier],
    status: (OBSERVATION_STATUS_0085[obx.get(11).toUpperCase()] ?? 'final') as Observation['status'],
    category: obr && [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] },
    ],
    code,
    subject: patientRef(ctx),
    encounter: ctx.encounter ? { reference: ctx.encounter } : undefined,
    effectiveDateTime: v2Time(obx.get(14), tz)?.value ?? v2Time(obr?.get(7) ?? '', tz)?.value,
    ...observationValue(obx, tz),
    interpretation: flags.length
      ? flags.map((f) =>
          INTERPRETATION_0078.has(f.toUpperCase())
            ? { coding: [{ system: V3_INTERPRETATION, code: f.toUpperCase() }] }
            : { text: f },
        )
      : undefined,
    referenceRange: referenceRange(obx.get(7)),
    performer: obx
      .reps(16)
      .map((f) => practitioner(ctx, f))
      .filter((p) => p !== undefined),
    method: cweConcept(obx.field(17)),
    note: notes(nte),
    specimen: specimen ? { reference: specimen } : undefined,
  };
  return ctx.builder.add(clean(observation)!, { identifier });
}

/** OBX-5 by its value type (OBX-2): NM/SN → Quantity, CE/CWE → CodeableConcept, ST/TX/FT → string, DT/TS → dateTime. */
function observationValue(obx: V2Segment, tz: string): Partial<Observation> {
  const type = obx.get(2).toUpperCase();
  const reps = obx.reps(5);
  const first = reps[0];
  if (!first) return {};
  switch (type) {
    case 'NM':
    case 'NA': {
      const q = quantity(first.get(1), obx.get(6) ? obx.field(6) : undefined);
      return q ? { valueQuantity: q } : { valueString: first.text };
    }
    case 'SN': {
      const [comparator, num1, sep, num2] = [first.get(1), first.get(2), first.get(3), first.get(4)];
      const unit = obx.get(6) ? obx.field(6) : undefined;
      if (sep === '-' && num2) return { valueRange: clean({ low: quantity(num1, unit), high: quantity(num2, unit) }) };
      if ((sep === ':' || sep === '/') && num2)
        return { valueRatio: clean({ numerator: quantity(num1, undefined), denominator: quantity(num2, undefined) }) };
      const q = quantity(num1, unit);
      if (!q) return { valueString: first.text };
      if (['<', '<=', '>', '>='].includes(comparator)) q.comparator = comparator as '<';
      return { valueQuantity: q };
    }
    case 'CE':
    case 'CWE':
    case 'CNE':
    case 'CF':
      return { valueCodeableConcept: cweConcept(first) };
    case 'DT':
    case 'TS':
    case 'DTM': {
      const t = v2Time(first.get(1), tz);
      return t ? { valueDateTime: t.value } : { valueString: first.text };
    }
    case 'TM':
      return /^\d{4}/.test(first.get(1))
        ? { valueTime: `${first.get(1).slice(0, 2)}:${first.get(1).slice(2, 4)}:${first.get(1).slice(4, 6) || '00'}` }
        : {};
    default:
      return { valueString: reps.map((r) => r.text).join('\n') };
  }
}

/** OBX-7 (`3.5-5.0`, `<10`, `>60`, or text) → a reference range. */
function referenceRange(text: string): ObservationReferenceRange[] | undefined {
  if (!text) return undefined;
  const range = /^\s*([+-]?\d+\.?\d*)\s*-\s*([+-]?\d+\.?\d*)\s*$/.exec(text);
  if (range) return [{ low: { value: Number(range[1]) }, high: { value: Number(range[2]) } }];
  const upper = /^\s*<=?\s*([+-]?\d+\.?\d*)\s*$/.exec(text);
  if (upper) return [{ high: { value: Number(upper[1]) } }];
  const lower = /^\s*>=?\s*([+-]?\d+\.?\d*)\s*$/.exec(text);
  if (lower) return [{ low: { value: Number(lower[1]) } }];
  return [{ text }];
}

/** SPM → Specimen, conditionally on its id (SPM-2) or the report with its set id. */
function mapSpecimen(ctx: MappingContext, spm: V2Segment, reportKey: string): string {
  const tz = ctx.feed.timeZone;
  const id = spm.field(2).get(1, 1) || spm.field(2).get(2, 1);
  const identifier = id
    ? { system: 'urn:tributary:v2:specimen', value: id }
    : derivedIdentifier(ctx, 'specimen', reportKey, spm.get(1));
  const specimen: Specimen = {
    resourceType: 'Specimen',
    identifier: [identifier],
    type: cweConcept(spm.field(4)),
    subject: patientRef(ctx),
    collection: clean({
      collectedPeriod: clean({ start: v2Time(spm.get(17, 1), tz)?.value, end: v2Time(spm.get(17, 2), tz)?.value }),
      bodySite: cweConcept(spm.field(8)),
    }),
    receivedTime: instant(v2Time(spm.get(18), tz)?.value),
  };
  return ctx.builder.add(clean(specimen)!, { identifier });
}

/** NTE segments that follow OBR directly (before any OBX): the order's notes. */
function obrNotes(members: V2Segment[]): V2Segment[] {
  const out: V2Segment[] = [];
  for (const m of members) {
    if (m.name !== 'NTE') break;
    out.push(m);
  }
  return out;
}

/** OBR-32 (principal result interpreter, NDL: a CNN in component 1) → a Practitioner reference. */
function practitionerFromNdl(obr: V2Segment) {
  const f = obr.field(32);
  const name = [f.get(1, 3), f.get(1, 2)].filter(Boolean).join(' ');
  return name || f.get(1, 1) ? { display: name || f.get(1, 1) } : undefined;
}

/** A dateTime that is precise to the second with an offset is an instant; anything less is dropped. */
export function instant(value: string | undefined): string | undefined {
  return value && /T\d{2}:\d{2}:\d{2}(\.\d+)?[+-Z]/.test(value) ? value : undefined;
}

/** ED-2/ED-3 (type of data, subtype) → a MIME type. */
function mime(type: string, subtype: string): string {
  const t = type.toUpperCase();
  if (t === 'AP' || t === 'APPLICATION') return `application/${(subtype || 'octet-stream').toLowerCase()}`;
  if (t === 'TEXT' || t === 'TX') return `text/${(subtype || 'plain').toLowerCase()}`;
  if (t === 'IM' || t === 'IMAGE') return `image/${(subtype || 'jpeg').toLowerCase()}`;
  return subtype?.includes('/') ? subtype.toLowerCase() : 'application/octet-stream';
}
