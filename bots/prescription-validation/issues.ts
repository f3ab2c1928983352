import type {
  CodeableConcept,
  Coding,
  Communication,
  DetectedIssue,
  MedicationRequest,
  OperationOutcomeIssue,
  Reference,
} from '@medplum/fhirtypes';
import { CHECK_SYSTEM, type CheckName, type Finding } from './check.ts';

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const STATUS_REASON = 'http://terminology.hl7.org/CodeSystem/medicationrequest-status-reason';
/** The `mitigation.action` code of the bot's advice (v3 ActCode has no code for "advice given"). */
const MITIGATION_SYSTEM = 'https://tributary.dev/fhir/CodeSystem/prescription-mitigation';

/** MedicationRequest status reasons (HL7 medicationrequest-status-reason) for a blocking layer. */
const REASONS: Partial<Record<CheckName, [string, string]>> = {
  allergy: ['salg', 'Patient allergy'],
  interaction: ['sddi', 'Drug interacts with another drug'],
  duplicate: ['sdupther', 'Duplicate therapy'],
  dose: ['drughigh', 'Drug level too high'],
};

/**
 * The DetectedIssue of a finding about `request` (a reference, or a description when it is not stored), for the
 * prescription's patient (DetectedIssue.patient puts it in the patient's compartment, as the prescription is).
 */
export function detectedIssue(
  finding: Finding,
  request: Reference,
  patient: Reference | undefined,
  now: Date,
): DetectedIssue {
  const coding: Coding[] = [{ system: CHECK_SYSTEM, code: finding.check }];
  if (finding.actCode) coding.push({ system: ACT_CODE, code: finding.actCode });
  return {
    resourceType: 'DetectedIssue',
    status: 'final',
    code: { coding, text: finding.detail.slice(0, 200) },
    ...(patient?.reference?.startsWith('Patient/') ? { patient: { reference: patient.reference } } : {}),
    severity: finding.severity,
    identifiedDateTime: now.toISOString(),
    implicated: [request, ...(finding.implicated ?? [])],
    detail: finding.detail,
    ...(finding.mitigation
      ? {
          mitigation: [
            {
              action: { coding: [{ system: MITIGATION_SYSTEM, code: 'advice' }], text: finding.mitigation },
              date: now.toISOString(),
            },
          ],
        }
      : {}),
  };
}

/** The statusReason of an on-hold prescription: the first blocking finding's reason, the list in the text. */
export function holdReason(findings: Finding[]): CodeableConcept {
  const blocking = findings.filter((f) => f.severity === 'high');
  const [code, display] = REASONS[blocking[0].check] ?? ['clarif', 'Prescription requires clarification'];
  return {
    coding: [
      { system: STATUS_REASON, code, display },
      ...[...new Set(blocking.map((f) => f.check))].map((c) => ({ system: CHECK_SYSTEM, code: c })),
    ],
    text: blocking
      .map((f) => f.detail)
      .join(' ')
      .slice(0, 1000),
  };
}

/** The alert to the prescriber of a blocked prescription, about it and its issues. */
export function prescriberAlert(
  request: MedicationRequest,
  requestRef: Reference,
  issues: Reference[],
  findings: Finding[],
  sender: string,
  now: Date,
): Communication {
  const blocking = findings.filter((f) => f.severity === 'high');
  return {
    resourceType: 'Communication',
    status: 'completed',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'alert' }] }],
    priority: 'urgent',
    ...(request.subject ? { subject: request.subject } : {}),
    about: [requestRef, ...issues],
    ...(request.requester ? { recipient: [request.requester] } : {}),
    sender: { reference: sender },
    sent: now.toISOString(),
    payload: [
      {
        contentString:
          `Prescription on hold: ${blocking.length} blocking problem${blocking.length === 1 ? '' : 's'}. ${blocking.map((f) => `[${f.check}] ${f.detail}`).join(' ')}`.slice(
            0,
            4000,
          ),
      },
    ],
  };
}

/** The hard stop's answer: one OperationOutcome issue per blocking finding, with the layer's code. */
export function outcomeIssues(findings: Finding[]): OperationOutcomeIssue[] {
  return findings
    .filter((f) => f.severity === 'high')
    .map((f) => ({
      severity: 'error',
      code: 'business-rule',
      details: { coding: [{ system: CHECK_SYSTEM, code: f.check }], text: f.detail },
      diagnostics: f.mitigation ? `${f.detail} ${f.mitigation}` : f.detail,
    }));
}
