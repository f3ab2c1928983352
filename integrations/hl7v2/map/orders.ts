import type { Annotation, Identifier, ServiceRequest } from '@medplum/fhirtypes';
import type { V2Segment } from '../parse/message.ts';
import { clean, cweConcept, eiIdentifier } from './datatypes.ts';
import { v2Time } from './dtm.ts';
import { derivedIdentifier, patientRef, practitioner, type MappingContext } from './context.ts';
import { patientKey } from './encounter.ts';
import { ORDER_CONTROL_0119, ORDER_STATUS_0038 } from './vocab.ts';

/**
 * The placer and filler numbers of an order (ORC-2/3, else OBR-2/3), typed PLAC and FILL. The placer number comes
 * first: it is what writes match on, as it exists from the order on, while the filler number comes later.
 */
export function orderIdentifiers(ctx: MappingContext, orc?: V2Segment, obr?: V2Segment): Identifier[] {
  const placer = eiIdentifier(orc?.get(2) ? orc.field(2) : (obr?.field(2) ?? orc!.field(2)), ctx, 'PLAC');
  const filler = eiIdentifier(orc?.get(3) ? orc.field(3) : (obr?.field(3) ?? orc!.field(3)), ctx, 'FILL');
  return [placer, filler].filter((i) => i !== undefined);
}

/** The request's status from ORC-5 (order status), else ORC-1 (order control); `unknown` without either. */
export function orderStatus(orc: V2Segment | undefined): string {
  return (
    ORDER_STATUS_0038[orc?.get(5).toUpperCase() ?? ''] ??
    ORDER_CONTROL_0119[orc?.get(1).toUpperCase() ?? ''] ??
    'unknown'
  );
}

/** NTE segments → Annotations. */
export function notes(segments: V2Segment[]): Annotation[] {
  return segments
    .filter((s) => s.name === 'NTE')
    .map((n) =>
      n
        .reps(3)
        .map((f) => f.text)
        .join('\n'),
    )
    .filter(Boolean)
    .map((text) => ({ text }));
}

/**
 * ORC with OBR (or ORC alone) → ServiceRequest (IG: ORC[ServiceRequest], OBR[ServiceRequest]), conditionally on the
 * placer, else the filler number, else the patient with the code and time.
 */
export function mapServiceRequest(
  ctx: MappingContext,
  orc: V2Segment | undefined,
  obr: V2Segment | undefined,
  members: V2Segment[] = [],
): string | undefined {
  const ids = orderIdentifiers(ctx, orc, obr);
  const code = obr ? cweConcept(obr.field(4)) : undefined;
  if (!ids.length && !code) return undefined;
  const identifier = ids[0] ?? derivedIdentifier(ctx, 'order', patientKey(ctx), obr?.get(4) ?? '', obr?.get(7) ?? '');
  const tz = ctx.feed.timeZone;
  const request: ServiceRequest = {
    resourceType: 'ServiceRequest',
    identifier: ids.length ? ids : [identifier],
    status: orderStatus(orc) as ServiceRequest['status'],
    intent: 'order',
    code,
    subject: patientRef(ctx) ?? { display: 'unknown patient' },
    encounter: ctx.encounter ? { reference: ctx.encounter } : undefined,
    authoredOn: v2Time(orc?.get(9) ?? '', tz)?.value ?? v2Time(obr?.get(6) ?? '', tz)?.value,
    occurrenceDateTime: v2Time(obr?.get(7) ?? '', tz)?.value,
    requester: orc?.get(12)
      ? practitioner(ctx, orc.field(12))
      : obr?.get(16)
        ? practitioner(ctx, obr.field(16))
        : undefined,
    priority: obr?.get(5) === 'S' || orc?.get(7, 6) === 'S' ? 'stat' : undefined,
    reasonCode: obr
      ?.reps(31)
      .map((f) => cweConcept(f))
      .filter((c) => c !== undefined),
    note: notes(members.filter((m) => m.name === 'NTE')),
  };
  return ctx.builder.add(clean(request)!, { identifier });
}
