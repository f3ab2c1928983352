import type {
  Appointment,
  AppointmentParticipant,
  DocumentReference,
  Identifier,
  Immunization,
  Medication,
  MedicationRequest,
} from '@medplum/fhirtypes';
import { mappingError } from '../errors.ts';
import { V2_ERROR, type V2Segment } from '../parse/message.ts';
import { clean, cweConcept, eiIdentifier, quantity } from './datatypes.ts';
import { v2Time } from './dtm.ts';
import { derivedIdentifier, patientRef, practitioner, type MappingContext } from './context.ts';
import { patientKey } from './encounter.ts';
import { orderIdentifiers, orderStatus } from './orders.ts';
import { instant } from './results.ts';
import {
  APPOINTMENT_STATUS_0278,
  APPOINTMENT_STATUS_BY_EVENT,
  DOC_STATUS_0271,
  IMMUNIZATION_STATUS_0322,
} from './vocab.ts';

/**
 * SIU: SCH with its resources (AIS services, AIG general, AIL locations, AIP personnel) → Appointment, conditionally
 * on the filler appointment id SCH-2 (else the placer SCH-1). Status from SCH-25, else the trigger event.
 */
export function mapAppointment(ctx: MappingContext, sch: V2Segment): void {
  const tz = ctx.feed.timeZone;
  const identifier = eiIdentifier(sch.field(2), ctx, 'FILL') ?? eiIdentifier(sch.field(1), ctx, 'PLAC');
  if (!identifier)
    throw mappingError(
      'SCH-1 and SCH-2 (appointment ids) are both empty',
      { segment: 'SCH', field: 2 },
      V2_ERROR.requiredFieldMissing,
    );
  const m = ctx.message;
  const participants: AppointmentParticipant[] = [];
  if (ctx.patient) participants.push({ actor: { reference: ctx.patient }, status: 'accepted' });
  for (const aip of m.all('AIP')) {
    const who = practitioner(ctx, aip.field(3));
    if (who)
      participants.push({ actor: who, type: aip.get(4) ? [cweConcept(aip.field(4))!] : undefined, status: 'accepted' });
  }
  for (const ail of m.all('AIL')) {
    const place = [ail.get(3, 1), ail.get(3, 2), ail.get(3, 3), ail.get(3, 4)].filter(Boolean).join(' ');
    if (place) participants.push({ actor: { display: place }, status: 'accepted' });
  }
  for (const aig of m.all('AIG')) {
    const what = aig.get(3, 2) || aig.get(3, 1);
    if (what) participants.push({ actor: { display: what }, status: 'accepted' });
  }
  if (participants.length === 0) participants.push({ actor: { display: 'unknown' }, status: 'needs-action' });
  const ais = m.all('AIS');
  const timing = sch.field(11);
  const start = instant(v2Time(ais[0]?.get(4) || timing.get(4), tz)?.value);
  const minutes = Number(ais[0]?.get(7) || sch.get(9));
  const duration = Number.isInteger(minutes) && minutes > 0 ? minutes : undefined;
  const endTime = instant(v2Time(timing.get(5), tz)?.value);
  // app-2: start and end together or neither; an end is the given one, else the start plus the duration.
  const end =
    endTime ?? (start && duration ? new Date(Date.parse(start) + duration * 60_000).toISOString() : undefined);
  const status =
    APPOINTMENT_STATUS_0278[sch.get(25, 1).toUpperCase()] ??
    APPOINTMENT_STATUS_BY_EVENT[m.header.triggerEvent] ??
    'booked';
  const appointment: Appointment = {
    resourceType: 'Appointment',
    identifier: [identifier, eiIdentifier(sch.field(1), ctx, 'PLAC')].filter(
      (i, n): i is Identifier => i !== undefined && (n === 0 || i.value !== identifier.value),
    ),
    status: status as Appointment['status'],
    serviceType: ais.map((s) => cweConcept(s.field(3))).filter((c) => c !== undefined),
    appointmentType: cweConcept(sch.field(8), '0276'),
    reasonCode: sch.get(7) ? [cweConcept(sch.field(7))!] : undefined,
    start: start && end ? start : undefined,
    end: start && end ? end : undefined,
    requestedPeriod: start && !end ? [{ start }] : undefined,
    minutesDuration: duration,
    cancelationReason: status === 'cancelled' ? cweConcept(sch.field(6)) : undefined,
    participant: participants,
    comment:
      m
        .all('NTE')
        .map((n) => n.get(3))
        .filter(Boolean)
        .join('\n') || undefined,
  };
  ctx.builder.add(clean(appointment)!, { identifier });
}

/**
 * Pharmacy orders (RDE^O11, OMP^O09, ORM with RXO): ORC with RXE or RXO and RXR → MedicationRequest and its
 * Medication (IG: RXE[MedicationRequest], RXO[MedicationRequest]), conditionally on the order numbers.
 */
export function mapMedicationOrder(
  ctx: MappingContext,
  orc: V2Segment | undefined,
  rx: V2Segment,
  rxr: V2Segment[],
): void {
  const tz = ctx.feed.timeZone;
  const isRxe = rx.name === 'RXE';
  const codeField = isRxe ? rx.field(2) : rx.field(1);
  const code = cweConcept(codeField);
  if (!code)
    throw mappingError(`${rx.name}-${isRxe ? 2 : 1} (the medication) is empty`, {
      segment: rx.name,
      field: isRxe ? 2 : 1,
    });
  const ids = orderIdentifiers(ctx, orc, undefined);
  const identifier =
    ids[0] ?? derivedIdentifier(ctx, 'medication-order', patientKey(ctx), codeField.get(1), orc?.get(9) ?? '');
  const medication = ctx.builder.add<Medication>(
    clean({
      resourceType: 'Medication' as const,
      identifier: [
        derivedIdentifier(ctx, 'medication', code.coding?.[0]?.system ?? '', codeField.get(1) || codeField.get(2)),
      ],
      code,
    })!,
    {
      identifier: derivedIdentifier(
        ctx,
        'medication',
        code.coding?.[0]?.system ?? '',
        codeField.get(1) || codeField.get(2),
      ),
    },
  );
  const [minDose, maxDose, units] = isRxe ? [rx.get(3), rx.get(4), rx.field(5)] : [rx.get(2), rx.get(3), rx.field(4)];
  const dispense = isRxe ? quantity(rx.get(10), rx.field(11)) : quantity(rx.get(11), rx.field(12));
  const request: MedicationRequest = {
    resourceType: 'MedicationRequest',
    identifier: ids.length ? ids : [identifier],
    status: (orderStatus(orc) === 'revoked' ? 'cancelled' : orderStatus(orc)) as MedicationRequest['status'],
    intent: 'order',
    medicationReference: { reference: medication },
    subject: patientRef(ctx) ?? { display: 'unknown patient' },
    encounter: ctx.encounter ? { reference: ctx.encounter } : undefined,
    authoredOn: v2Time(orc?.get(9) ?? '', tz)?.value,
    requester: orc?.get(12) ? practitioner(ctx, orc.field(12)) : undefined,
    dosageInstruction: [
      clean({
        text: isRxe ? rx.get(7, 2) || undefined : rx.get(7, 2) || undefined,
        route: rxr[0] ? cweConcept(rxr[0].field(1), '0162') : undefined,
        site: rxr[0] ? cweConcept(rxr[0].field(2), '0550') : undefined,
        doseAndRate: clean(
          [
            {
              doseQuantity: quantity(minDose, units?.get(1) ? units : undefined),
              doseRange: maxDose ? clean({ low: quantity(minDose, units), high: quantity(maxDose, units) }) : undefined,
            },
          ].map((d) => (d.doseRange ? { doseRange: d.doseRange } : d)),
        ),
      }),
    ].filter((d) => d !== undefined),
    dispenseRequest: clean({
      quantity: dispense,
      numberOfRepeatsAllowed: /^\d+$/.test(isRxe ? rx.get(12) : rx.get(13))
        ? Number(isRxe ? rx.get(12) : rx.get(13))
        : undefined,
    }),
  };
  ctx.builder.add(clean(request)!, { identifier });
}

/** VXU: RXA (with ORC, RXR) → Immunization, conditionally on the filler order number, else patient, vaccine and date. */
export function mapImmunization(
  ctx: MappingContext,
  rxa: V2Segment,
  orc: V2Segment | undefined,
  rxr: V2Segment | undefined,
): void {
  const tz = ctx.feed.timeZone;
  const vaccine = cweConcept(rxa.field(5), '0292');
  if (!vaccine) throw mappingError('RXA-5 (administered code) is empty', { segment: 'RXA', field: 5 });
  const occurrence = v2Time(rxa.get(3), tz);
  if (!occurrence)
    throw mappingError(
      'RXA-3 (date/time start of administration) is empty or not a date',
      { segment: 'RXA', field: 3 },
      V2_ERROR.dataType,
    );
  if (!ctx.patient) throw mappingError('A VXU needs a PID', { segment: 'PID' }, V2_ERROR.segmentSequence);
  const ids = orc ? orderIdentifiers(ctx, orc, undefined) : [];
  const identifier = ids[0] ?? derivedIdentifier(ctx, 'immunization', patientKey(ctx), rxa.get(5, 1), rxa.get(3));
  const completion = rxa.get(20).toUpperCase();
  const immunization: Immunization = {
    resourceType: 'Immunization',
    identifier: ids.length ? ids : [identifier],
    status:
      rxa.get(21).toUpperCase() === 'D' ? 'entered-in-error' : (IMMUNIZATION_STATUS_0322[completion] ?? 'completed'),
    vaccineCode: vaccine,
    patient: { reference: ctx.patient },
    occurrenceDateTime: occurrence.value,
    primarySource: rxa.get(9, 1) ? rxa.get(9, 1) === '00' : undefined,
    lotNumber: rxa.get(15) || undefined,
    expirationDate: v2Time(rxa.get(16), tz)?.value.slice(0, 10),
    manufacturer: rxa.get(17, 2) || rxa.get(17, 1) ? { display: rxa.get(17, 2) || rxa.get(17, 1) } : undefined,
    doseQuantity: rxa.get(6) !== '999' ? quantity(rxa.get(6), rxa.get(7) ? rxa.field(7) : undefined) : undefined,
    route: rxr ? cweConcept(rxr.field(1), '0162') : undefined,
    site: rxr ? cweConcept(rxr.field(2), '0163') : undefined,
    performer: rxa
      .reps(10)
      .map((f) => practitioner(ctx, f))
      .filter((p) => p !== undefined)
      .map((actor) => ({ actor })),
    isSubpotent: completion === 'PA' ? true : undefined,
    statusReason: completion === 'RE' ? cweConcept(rxa.field(18)) : undefined,
  };
  ctx.builder.add(clean(immunization)!, { identifier });
}

/** MDM: TXA with its OBX text → DocumentReference with the text as an attachment, on the unique document number TXA-12. */
export function mapDocument(ctx: MappingContext, txa: V2Segment): void {
  const tz = ctx.feed.timeZone;
  const m = ctx.message;
  const identifier =
    eiIdentifier(txa.field(12), ctx) ??
    derivedIdentifier(ctx, 'document', patientKey(ctx), txa.get(2), txa.get(4) || txa.get(6));
  const text = m
    .all('OBX')
    .flatMap((o) => o.reps(5).map((f) => f.text))
    .join('\n');
  const trigger = m.header.triggerEvent;
  const docStatus = DOC_STATUS_0271[txa.get(17).toUpperCase()];
  const document: DocumentReference = {
    resourceType: 'DocumentReference',
    identifier: [identifier],
    status: trigger === 'T11' || txa.get(19).toUpperCase() === 'OB' ? 'superseded' : 'current',
    docStatus,
    type: cweConcept(txa.field(2), '0270') ?? { text: 'document' },
    subject: patientRef(ctx),
    date: instant(v2Time(txa.get(4) || txa.get(6), tz)?.value),
    author: txa
      .reps(9)
      .map((f) => practitioner(ctx, f))
      .filter((p) => p !== undefined),
    content: [
      {
        attachment: clean({
          contentType: txa.get(3) ? mimeOf(txa.get(3)) : 'text/plain',
          data: text ? Buffer.from(text, 'utf8').toString('base64') : undefined,
          title: txa.get(16) || undefined,
        })!,
      },
    ],
    context: ctx.encounter ? { encounter: [{ reference: ctx.encounter }] } : undefined,
  };
  ctx.builder.add(clean(document)!, { identifier });
}

/** TXA-3 (document content presentation, table 0191) → a MIME type. */
function mimeOf(presentation: string): string {
  const p = presentation.toUpperCase();
  return p === 'TX' || p === 'FT'
    ? 'text/plain'
    : p === 'AP'
      ? 'application/octet-stream'
      : p === 'IM'
        ? 'image/jpeg'
        : 'text/plain';
}
