import type { Identifier, Patient, Practitioner, Reference } from '@medplum/fhirtypes';
import type { V2Message } from '../parse/message.ts';
import type { TransactionBuilder } from './bundle.ts';
import { clean, xcnPerson, nameText, type DatatypeContext } from './datatypes.ts';
import type { V2Field } from '../parse/message.ts';

/** Everything one message's mapping shares: the message, the feed, the transaction being built, what it named. */
export interface MappingContext extends DatatypeContext {
  message: V2Message;
  builder: TransactionBuilder;
  /** Placeholder of the message's Patient, once mapped. */
  patient?: string;
  /** Placeholder of the message's Encounter, once mapped. */
  encounter?: string;
}

/** The system of identifiers the door derives when v2 gives none (an OBX within its report, an allergy…). */
export const DERIVED = 'urn:tributary:v2:derived';

/** A derived identifier: stable for the same message content, so a message mapped again matches what it wrote. */
export function derivedIdentifier(ctx: MappingContext, kind: string, ...parts: string[]): Identifier {
  return { system: `${DERIVED}:${kind}`, value: [ctx.facility, ...parts].join('|') };
}

/** The message's patient as a Reference (undefined when it has none). */
export function patientRef(ctx: MappingContext): Reference<Patient> | undefined {
  return ctx.patient ? { reference: ctx.patient } : undefined;
}

/**
 * An XCN person as a Practitioner: written (conditionally on its identifier) when XCN-1 gives one, else a Reference
 * with the name as display.
 */
export function practitioner(ctx: MappingContext, f: V2Field): Reference<Practitioner> | undefined {
  const person = xcnPerson(f, ctx);
  const display = nameText(person.name);
  if (!person.identifier) return display ? { display } : undefined;
  const ref = ctx.builder.add(
    clean({
      resourceType: 'Practitioner' as const,
      identifier: [person.identifier],
      name: person.name ? [person.name] : undefined,
    })!,
    { identifier: person.identifier },
  );
  return clean<Reference<Practitioner>>({ reference: ref, display });
}
