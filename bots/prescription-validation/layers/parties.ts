import type { Patient, Practitioner, PractitionerRole } from '@medplum/fhirtypes';
import { idOf, type Finding, type Layer } from '../check.ts';

/** PractitionerRole codes that allow prescribing: HL7 practitioner-role `doctor`, or Tributary's `prescriber`. */
export const PRESCRIBING_ROLES: ReadonlyArray<{ system: string; code: string }> = [
  { system: 'http://terminology.hl7.org/CodeSystem/practitioner-role', code: 'doctor' },
  { system: 'https://tributary.dev/fhir/CodeSystem/practitioner-role', code: 'prescriber' },
];

/**
 * Prescriber: the requester is an active Practitioner (or an active PractitionerRole of one) holding an active role,
 * within its period, whose code allows prescribing (the prescriber must be authorised to prescribe: 21 CFR 1306.03;
 * UK Human Medicines Regulations 2012 reg. 214).
 */
export const prescriberLayer: Layer = {
  check: 'prescriber',
  async run({ request, reader, now }) {
    const fail = (detail: string): Finding[] => [
      {
        check: 'prescriber',
        severity: 'high',
        detail,
        mitigation: 'Have an authorised, active prescriber issue the prescription.',
        ...(request.requester ? { implicated: [request.requester] } : {}),
      },
    ];
    let roles: PractitionerRole[];
    let practitionerId = idOf(request.requester, 'Practitioner');
    const roleId = idOf(request.requester, 'PractitionerRole');
    if (roleId) {
      const role = await reader.read<PractitionerRole>('PractitionerRole', roleId);
      if (!role) return fail(`The requester PractitionerRole/${roleId} is not known.`);
      practitionerId = idOf(role.practitioner, 'Practitioner');
      roles = [role];
    } else if (practitionerId) {
      roles = await reader.search<PractitionerRole>('PractitionerRole', {
        practitioner: `Practitioner/${practitionerId}`,
      });
    } else {
      return fail('The requester is not a Practitioner or PractitionerRole.');
    }
    if (!practitionerId) return fail('The requester’s role names no Practitioner.');
    const practitioner = await reader.read<Practitioner>('Practitioner', practitionerId);
    if (!practitioner) return fail(`The prescriber Practitioner/${practitionerId} is not known.`);
    if (practitioner.active === false) return fail(`The prescriber Practitioner/${practitionerId} is not active.`);
    const prescribing = roles.some(
      (r) =>
        r.active !== false &&
        within(r.period, now) &&
        r.code?.some((c) =>
          c.coding?.some((k) => PRESCRIBING_ROLES.some((p) => p.system === k.system && p.code === k.code)),
        ),
    );
    if (!prescribing) return fail(`Practitioner/${practitionerId} holds no active role that allows prescribing.`);
    return [];
  },
};

/** Patient: the subject exists, is active, and has not been merged into another record (link `replaced-by`). */
export const patientLayer: Layer = {
  check: 'patient',
  async run({ request, reader }) {
    const id = idOf(request.subject, 'Patient');
    if (!id) return { note: 'no Patient subject (reported by structure)' };
    const fail = (detail: string, mitigation: string): Finding[] => [
      { check: 'patient', severity: 'high', detail, mitigation, implicated: [{ reference: `Patient/${id}` }] },
    ];
    const patient = await reader.read<Patient>('Patient', id);
    if (!patient) return fail(`Patient/${id} is not known.`, 'Prescribe for a registered patient.');
    const replacedBy = patient.link?.find((l) => l.type === 'replaced-by')?.other?.reference;
    if (replacedBy)
      return fail(`Patient/${id} was merged into ${replacedBy}.`, `Prescribe for ${replacedBy}, the surviving record.`);
    if (patient.active === false) return fail(`Patient/${id} is not active.`, 'Check the patient’s identity.');
    return [];
  },
};

function within(period: { start?: string; end?: string } | undefined, now: Date): boolean {
  const t = now.getTime();
  return (!period?.start || Date.parse(period.start) <= t) && (!period?.end || Date.parse(period.end) >= t);
}
