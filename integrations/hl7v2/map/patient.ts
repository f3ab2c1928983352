import type { Patient, PatientContact } from '@medplum/fhirtypes';
import { mappingError } from '../errors.ts';
import { V2_ERROR, type V2Segment } from '../parse/message.ts';
import { clean, cweConcept, cxIdentifier, xadAddress, xpnName, xtnContact } from './datatypes.ts';
import { v2Date, v2Time } from './dtm.ts';
import type { MappingContext } from './context.ts';
import { SEX_0001 } from './vocab.ts';

/**
 * PID (with PD1, NK1) → Patient, written conditionally on its first PID-3 identifier (IG: PID[Patient], NK1[Patient]).
 * A PID without any identifier cannot be matched on a replay: the message is refused (101 at PID-3).
 */
export function mapPatient(pid: V2Segment, ctx: MappingContext, nk1: V2Segment[] = []): string {
  const identifiers = [...pid.reps(3), ...pid.reps(2), ...pid.reps(4)]
    .map((f) => cxIdentifier(f, ctx))
    .filter((i) => i !== undefined);
  const ssn = pid.get(19);
  if (ssn) identifiers.push({ system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn });
  const license = pid.field(20);
  if (license.get(1))
    identifiers.push({
      system: `urn:tributary:v2:driver-license:${encodeURIComponent(license.get(2) || 'unknown')}`,
      value: license.get(1),
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'DL' }] },
    });
  if (identifiers.length === 0)
    throw mappingError(
      'PID-3 (patient identifier list) is empty',
      { segment: 'PID', field: 3 },
      V2_ERROR.requiredFieldMissing,
    );
  const birth = pid.get(7);
  const deathTime = v2Time(pid.get(29), ctx.feed.timeZone);
  const patient: Patient = {
    resourceType: 'Patient',
    identifier: identifiers,
    name: pid
      .reps(5)
      .map(xpnName)
      .filter((n) => n !== undefined),
    birthDate: birth ? v2Date(birth) : undefined,
    gender: SEX_0001[pid.get(8).toUpperCase()],
    address: pid
      .reps(11)
      .map(xadAddress)
      .filter((a) => a !== undefined),
    telecom: [...pid.reps(13), ...pid.reps(14)].map(xtnContact).filter((t) => t !== undefined),
    communication: pid.get(15) ? [{ language: cweConcept(pid.field(15))! }] : undefined,
    maritalStatus: cweConcept(pid.field(16), '0002'),
    multipleBirthInteger: /^\d+$/.test(pid.get(25)) ? Number(pid.get(25)) : undefined,
    multipleBirthBoolean: /^\d+$/.test(pid.get(25))
      ? undefined
      : pid.get(24) === 'Y'
        ? true
        : pid.get(24) === 'N'
          ? false
          : undefined,
    deceasedDateTime: deathTime?.value,
    deceasedBoolean: deathTime ? undefined : pid.get(30) === 'Y' ? true : pid.get(30) === 'N' ? false : undefined,
    contact: nk1.map(contact).filter((c) => c !== undefined),
  };
  const race = pid
    .reps(10)
    .map((f) => cweConcept(f, '0005'))
    .filter(Boolean);
  if (race.length)
    patient.extension = race.map((r) => ({
      url: 'http://hl7.org/fhir/StructureDefinition/patient-race',
      valueCodeableConcept: r,
    }));
  return ctx.builder.add(clean(patient)!, { identifier: identifiers[0] });
}

/** NK1 → Patient.contact (name, relationship, address, telecom); one with none of these is left out (pat-1). */
function contact(nk1: V2Segment): PatientContact | undefined {
  const c = clean<PatientContact>({
    name: xpnName(nk1.field(2)),
    relationship: nk1.get(3) ? [cweConcept(nk1.field(3), '0063')!] : undefined,
    address: xadAddress(nk1.field(4)),
    telecom: [...nk1.reps(5), ...nk1.reps(6)].map(xtnContact).filter((t) => t !== undefined),
    gender: SEX_0001[nk1.get(15).toUpperCase()],
  });
  return c && (c.name || c.telecom || c.address) ? c : undefined;
}
