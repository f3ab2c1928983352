import type { Binary, Device, MessageHeader, Provenance } from '@medplum/fhirtypes';
import type { V2Message } from '../parse/message.ts';
import { stableId } from './bundle.ts';
import { clean, identifierSystem } from './datatypes.ts';
import type { MappingContext } from './context.ts';
import { instant } from './results.ts';
import { v2Time } from './dtm.ts';

/** The media type of raw HL7 v2 (ER7) messages, as Binary.contentType. */
export const ER7_MEDIA_TYPE = 'x-application/hl7-v2+er7';

/**
 * What every message adds to its transaction (IG: MSH[MessageHeader], MSH[Provenance]): the sending application as
 * a Device (conditionally on MSH-3), the raw message as a Binary, a MessageHeader naming the event, sender and focus,
 * and a Provenance whose targets are every other entry, whose entity is the Binary and whose agent is the sender.
 * `key` (feed and MSH-10) makes their ids stable: the same message mapped again writes the same ones.
 */
export function addMessageRecords(ctx: MappingContext, raw: Buffer, key: string): void {
  const m: V2Message = ctx.message;
  const h = m.header;
  const targets = ctx.builder.fullUrls;
  const app = h.sendingApplication || 'unknown';
  const deviceIdentifier = {
    system: identifierSystem(app, m.msh.get(3, 2), m.msh.get(3, 3), { ...ctx, facility: 'application' }),
    value: [app, h.sendingFacility].filter(Boolean).join('@'),
  };
  const device = ctx.builder.add<Device>(
    {
      resourceType: 'Device',
      identifier: [deviceIdentifier],
      deviceName: [{ name: app, type: 'user-friendly-name' }],
      manufacturer: h.sendingFacility || undefined,
    },
    { identifier: deviceIdentifier },
  );
  const id = stableId(key);
  const binary = ctx.builder.add<Binary>(
    { resourceType: 'Binary', contentType: ER7_MEDIA_TYPE, data: raw.toString('base64') },
    { id },
  );
  const header: MessageHeader = {
    resourceType: 'MessageHeader',
    eventCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0003', code: h.triggerEvent || h.messageCode },
    source: clean({
      name: app,
      endpoint: `urn:tributary:v2:${encodeURIComponent(app)}:${encodeURIComponent(h.sendingFacility)}`,
    })!,
    destination: h.receivingApplication
      ? [{ name: h.receivingApplication, endpoint: `urn:tributary:v2:${encodeURIComponent(h.receivingApplication)}` }]
      : undefined,
    sender: { reference: device },
    focus: targets.map((reference) => ({ reference })),
    definition: undefined,
  };
  const headerRef = ctx.builder.add(clean(header)!, { id });
  const sent = instant(v2Time(h.dateTime, ctx.feed.timeZone)?.value);
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: [...targets, headerRef].map((reference) => ({ reference })),
    occurredDateTime: v2Time(h.dateTime, ctx.feed.timeZone)?.value,
    recorded: sent ?? new Date().toISOString(),
    activity: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE' }],
      text: `HL7 v2 ${m.type} ${h.controlId}`,
    },
    agent: [
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }],
        },
        who: { reference: device },
      },
      {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler' }],
        },
        who: { display: 'Tributary HL7v2 door' },
      },
    ],
    entity: [{ role: 'source', what: { reference: binary } }],
  };
  ctx.builder.add(clean(provenance)!, { id });
}
