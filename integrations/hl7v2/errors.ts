import type { OperationOutcome } from '@medplum/fhirtypes';
import { OutcomeError, toOutcomeError } from '../../server/fhir/outcomes.ts';
import type { AckError } from './ack.ts';
import { V2_ERROR, type V2Location } from './parse/message.ts';

/** The code system of HL7 table 0357 (message error condition codes), as OperationOutcome issues carry it. */
export const V2_ERROR_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0357';

/** `PID-3`, `OBX[2]-5.1`: where an issue is in the message, as an OperationOutcome expression. */
export function locationText(l: V2Location): string {
  const seq = l.sequence && l.sequence > 1 ? `[${l.sequence}]` : '';
  const field = l.field ? `-${l.field}${l.component ? `.${l.component}` : ''}` : '';
  return `${l.segment}${seq}${field}`;
}

function parseLocation(text: string | undefined): V2Location | undefined {
  const m = /^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+)(?:\.(\d+))?)?$/.exec(text ?? '');
  if (!m) return undefined;
  const n = (s: string | undefined) => (s ? Number(s) : undefined);
  return { segment: m[1], sequence: n(m[2]) ?? 1, field: n(m[3]), component: n(m[4]) };
}

/**
 * A message the door cannot map: a 422 OutcomeError whose issue names the place in the message (expression) and the
 * table 0357 code (details), so that the dead letter and the NAK's ERR segment say the same thing.
 */
export function mappingError(
  diagnostics: string,
  location: V2Location,
  code: string = V2_ERROR.requiredFieldMissing,
): OutcomeError {
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: code === V2_ERROR.requiredFieldMissing ? 'required' : 'invalid',
        details: { coding: [{ system: V2_ERROR_SYSTEM, code }] },
        diagnostics,
        expression: [locationText(location)],
      },
    ],
  };
  return new OutcomeError(422, outcome);
}

/** The ERR segments of an ACK for a failure: each issue with its 0357 code and place, else 207 (internal error). */
export function ackErrors(err: unknown): AckError[] {
  const outcome = err instanceof OutcomeError ? err.outcome : toOutcomeError(err).outcome;
  return outcomeAckErrors(outcome);
}

/** The ERR segments for a stored OperationOutcome (a dead letter's error). */
export function outcomeAckErrors(outcome: OperationOutcome | null | undefined): AckError[] {
  const issues = (outcome?.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (issues.length === 0) return [{ code: V2_ERROR.internalError, diagnostics: 'Processing failed' }];
  return issues.slice(0, 10).map((i) => ({
    code: i.details?.coding?.find((c) => c.system === V2_ERROR_SYSTEM)?.code ?? V2_ERROR.internalError,
    diagnostics: (i.diagnostics ?? i.details?.text ?? i.code).slice(0, 500),
    location: parseLocation(i.expression?.[0]),
  }));
}
