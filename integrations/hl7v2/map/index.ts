import type { Bundle, Patient } from '@medplum/fhirtypes';
import type { ResolvedFeed } from '../feeds.ts';
import { mappingError } from '../errors.ts';
import { V2_ERROR, type V2Message, type V2Segment } from '../parse/message.ts';
import { TransactionBuilder } from './bundle.ts';
import type { MappingContext } from './context.ts';
import { mapAllergy, mapCoverage, mapDiagnosis, mapEncounter, mapProcedure } from './encounter.ts';
import { addMessageRecords } from './header.ts';
import { mapServiceRequest } from './orders.ts';
import { mapAppointment, mapDocument, mapImmunization, mapMedicationOrder } from './other.ts';
import { mapPatient } from './patient.ts';
import { mapPatientObservations, mapResultGroup } from './results.ts';

/** What mapping one message needs besides the message. */
export interface MapOptions {
  feed: ResolvedFeed;
  /** The message's bytes as received (kept as a Binary). */
  raw: Buffer;
  /** Unique per message (feed and MSH-10): seeds the ids of its MessageHeader, Binary and Provenance. */
  key: string;
}

type MessageMapper = (ctx: MappingContext) => void;

/** The ADT events the door maps (patient and visit, with allergies, diagnoses, procedures, insurance). */
const ADT_EVENTS = ['A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'A07', 'A08', 'A11', 'A13', 'A28', 'A31', 'A40'];

/** Message code → mapper; for ADT and SIU the trigger events the door takes. */
const MAPPERS: Record<string, { events?: string[]; map: MessageMapper }> = {
  ADT: { events: ADT_EVENTS, map: mapAdt },
  ORU: { events: ['R01'], map: mapOru },
  ORM: { events: ['O01'], map: mapOrders },
  OML: { events: ['O21'], map: mapOrders },
  SIU: { events: Array.from({ length: 15 }, (_, i) => `S${12 + i}`), map: mapSiu },
  RDE: { events: ['O11'], map: mapPharmacy },
  OMP: { events: ['O09'], map: mapPharmacy },
  VXU: { events: ['V04'], map: mapVxu },
  MDM: { events: ['T01', 'T02', 'T03', 'T04', 'T05', 'T06', 'T07', 'T08', 'T09', 'T10', 'T11'], map: mapMdm },
};

/** Whether the door maps a message type (`ADT^A01`). */
export function mapsType(type: string): boolean {
  const [code, event] = type.split('^');
  const mapper = MAPPERS[code];
  return !!mapper && (event === '*' || !mapper.events || mapper.events.includes(event ?? ''));
}

/**
 * Maps a message to the one FHIR transaction it is written as (conditional writes on business identifiers, plus
 * its MessageHeader, Binary and Provenance), then lets the feed's hook change it. Throws an OutcomeError (422, with
 * the place in the message) when the message cannot be mapped.
 */
export async function mapMessage(message: V2Message, options: MapOptions): Promise<Bundle> {
  const h = message.header;
  const mapper = MAPPERS[h.messageCode];
  if (!mapper || !mapsType(message.type))
    throw mappingError(
      `Message type ${message.type} is not mapped`,
      { segment: 'MSH', field: 9 },
      V2_ERROR.unsupportedMessageType,
    );
  const ctx: MappingContext = {
    message,
    feed: options.feed,
    facility: h.sendingFacility,
    builder: new TransactionBuilder(options.key),
  };
  mapper.map(ctx);
  addMessageRecords(ctx, options.raw, options.key);
  const bundle = ctx.builder.build();
  await options.feed.hook?.(message, bundle);
  return bundle;
}

/** PID (+NK1) and PV1 (+PV2) of a message, when it has them: the Patient and Encounter others refer to. */
function mapSubject(ctx: MappingContext, required: boolean): void {
  const m = ctx.message;
  const pid = m.segment('PID');
  if (!pid) {
    if (required) throw mappingError('The message has no PID segment', { segment: 'PID' }, V2_ERROR.segmentSequence);
    return;
  }
  ctx.patient = mapPatient(pid, ctx, m.all('NK1'));
  const pv1 = m.segment('PV1');
  if (pv1) ctx.encounter = mapEncounter(pv1, ctx, m.segment('PV2'));
}

function mapAdt(ctx: MappingContext): void {
  mapSubject(ctx, true);
  const m = ctx.message;
  m.all('AL1').forEach((s) => mapAllergy(s, ctx));
  m.all('DG1').forEach((s) => mapDiagnosis(s, ctx));
  m.all('PR1').forEach((s) => mapProcedure(s, ctx));
  m.all('IN1').forEach((s) => mapCoverage(s, ctx));
  mapPatientObservations(ctx, m.all('OBX'));
  if (m.header.triggerEvent === 'A40') mapMerge(ctx);
}

/** A40: MRG names the patient merged into the PID's: `replaced-by` on it, `replaces` on the survivor. */
function mapMerge(ctx: MappingContext): void {
  const mrg = ctx.message.segment('MRG');
  if (!mrg?.get(1)) throw mappingError('MRG-1 (prior patient identifier) is empty', { segment: 'MRG', field: 1 });
  const fake: V2Segment = mrg;
  const old = mapPatientFromMrg(ctx, fake);
  const survivor = ctx.builder.resource<Patient>(ctx.patient!);
  if (survivor) survivor.link = [{ other: { reference: old }, type: 'replaces' }];
  const merged = ctx.builder.resource<Patient>(old);
  if (merged) {
    merged.link = [{ other: { reference: ctx.patient }, type: 'replaced-by' }];
    merged.active = false;
  }
}

function mapPatientFromMrg(ctx: MappingContext, mrg: V2Segment): string {
  // MRG-1 is a CX list like PID-3: the merged patient is written (or updated) under its own identifier.
  const pidLike = {
    get: (n: number, c = 1, s = 1) => (n === 3 ? mrg.get(1, c, s) : ''),
    reps: (n: number) => (n === 3 ? mrg.reps(1) : []),
    field: (n: number) => mrg.field(n === 3 ? 1 : 99),
  } as unknown as V2Segment;
  return mapPatient(pidLike, ctx);
}

function mapOru(ctx: MappingContext): void {
  mapSubject(ctx, false);
  let orc: V2Segment | undefined;
  const m = ctx.message;
  const groups = m.groups('OBR', ['ORC', 'PID']);
  for (const seg of m.segments) if (seg.name === 'ORC') orc = seg;
  if (groups.length === 0)
    throw mappingError('An ORU^R01 needs at least one OBR', { segment: 'OBR' }, V2_ERROR.segmentSequence);
  for (const g of groups) mapResultGroup(ctx, g.head, g.members, orcBefore(m, g.head) ?? orc);
}

function mapOrders(ctx: MappingContext): void {
  mapSubject(ctx, false);
  const m = ctx.message;
  const orcs = m.groups('ORC', ['PID']);
  if (orcs.length === 0)
    throw mappingError('An order message needs an ORC', { segment: 'ORC' }, V2_ERROR.segmentSequence);
  for (const g of orcs) {
    const obr = g.members.find((s) => s.name === 'OBR');
    const rxo = g.members.find((s) => s.name === 'RXO');
    if (rxo)
      mapMedicationOrder(
        ctx,
        g.head,
        rxo,
        g.members.filter((s) => s.name === 'RXR'),
      );
    else mapServiceRequest(ctx, g.head, obr, g.members);
  }
}

function mapPharmacy(ctx: MappingContext): void {
  mapSubject(ctx, false);
  const m = ctx.message;
  for (const g of m.groups('ORC', ['PID'])) {
    const rx = g.members.find((s) => s.name === 'RXE' || s.name === 'RXO');
    if (rx)
      mapMedicationOrder(
        ctx,
        g.head,
        rx,
        g.members.filter((s) => s.name === 'RXR'),
      );
  }
  if (!m.segment('RXE') && !m.segment('RXO'))
    throw mappingError('A pharmacy order needs an RXE or RXO', { segment: 'RXE' }, V2_ERROR.segmentSequence);
}

function mapSiu(ctx: MappingContext): void {
  mapSubject(ctx, false);
  const sch = ctx.message.segment('SCH');
  if (!sch) throw mappingError('An SIU needs an SCH segment', { segment: 'SCH' }, V2_ERROR.segmentSequence);
  mapAppointment(ctx, sch);
}

function mapVxu(ctx: MappingContext): void {
  mapSubject(ctx, true);
  const m = ctx.message;
  const rxas = m.all('RXA');
  if (rxas.length === 0) throw mappingError('A VXU^V04 needs an RXA', { segment: 'RXA' }, V2_ERROR.segmentSequence);
  for (const g of m.groups('RXA', ['ORC']))
    mapImmunization(
      ctx,
      g.head,
      orcBefore(m, g.head),
      g.members.find((s) => s.name === 'RXR'),
    );
  m.all('AL1').forEach((s) => mapAllergy(s, ctx));
}

function mapMdm(ctx: MappingContext): void {
  mapSubject(ctx, false);
  const txa = ctx.message.segment('TXA');
  if (!txa) throw mappingError('An MDM needs a TXA segment', { segment: 'TXA' }, V2_ERROR.segmentSequence);
  mapDocument(ctx, txa);
}

/** The ORC just before a segment (its order's common segment), if any. */
function orcBefore(m: V2Message, seg: V2Segment): V2Segment | undefined {
  const at = m.segments.indexOf(seg);
  for (let i = at - 1; i >= 0; i--) {
    const s = m.segments[i];
    if (s.name === 'ORC') return s;
    if (s.name === 'OBR' || s.name === 'RXA' || s.name === 'PID') return undefined;
  }
  return undefined;
}
