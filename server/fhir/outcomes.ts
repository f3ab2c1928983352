import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/** The error every layer throws: it carries an OperationOutcome, and the HTTP status follows from it. */
export class OutcomeError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome,
  ) {
    super(outcome.issue?.map((i) => i.diagnostics ?? i.details?.text ?? i.code).join('; ') || `HTTP ${status}`);
    this.name = 'OutcomeError';
  }
}

type IssueCode = OperationOutcomeIssue['code'];

/** Builds an OperationOutcome with one issue. */
export function outcome(
  severity: OperationOutcomeIssue['severity'],
  code: IssueCode,
  diagnostics: string,
  expression?: string | string[],
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, diagnostics };
  if (expression !== undefined) issue.expression = Array.isArray(expression) ? expression : [expression];
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

/** An OperationOutcome that reports success, e.g. for `Prefer: return=OperationOutcome`. */
export function informational(message: string): OperationOutcome {
  return outcome('information', 'informational', message);
}

const fail = (status: number, code: IssueCode) => (message: string, expression?: string | string[]) =>
  new OutcomeError(status, outcome('error', code, message, expression));

/** 400: the request could not be understood (malformed syntax, bad parameter). */
export const badRequest = fail(400, 'invalid');
/** 400 for a structural problem in submitted content. */
export const invalidContent = fail(400, 'structure');
/** 401: no or invalid credentials. */
export const unauthorized = fail(401, 'login');
/** 403: authenticated but not allowed. */
export const forbidden = fail(403, 'forbidden');
/** 404: unknown resource type, resource or route. */
export const notFound = fail(404, 'not-found');
/** 405: the interaction is not allowed on this path. */
export const methodNotAllowed = fail(405, 'not-supported');
/** 406: cannot produce the requested format. */
export const notAcceptable = fail(406, 'not-supported');
/** 409: conflict with the current state (e.g. a concurrent write). */
export const conflict = fail(409, 'conflict');
/** 410: the resource was deleted. */
export const gone = fail(410, 'deleted');
/** 412: a version or conditional precondition failed. */
export const preconditionFailed = fail(412, 'conflict');
/** 413: the request body is larger than allowed. */
export const payloadTooLarge = fail(413, 'too-costly');
/** 415: the request body's media type is not supported. */
export const unsupportedMediaType = fail(415, 'not-supported');
/** 422: content is well-formed but violates profile rules or business rules. */
export const unprocessable = fail(422, 'processing');
/** 501: the interaction is not implemented. */
export const notImplemented = fail(501, 'not-supported');

/** An OutcomeError with several issues (e.g. validation results). */
export function outcomeError(status: number, issues: OperationOutcomeIssue[]): OutcomeError {
  return new OutcomeError(status, { resourceType: 'OperationOutcome', issue: issues });
}

/** Turns anything thrown into an OutcomeError; unknown errors become 500 (real bugs). */
export function toOutcomeError(err: unknown): OutcomeError {
  if (err instanceof OutcomeError) return err;
  const pg = err as { code?: string; message?: string };
  if (pg?.code === '40001' || pg?.code === '40P01') return conflict('Concurrent write conflict; retry the request');
  if (pg?.code === '57014') return new OutcomeError(503, outcome('error', 'timeout', 'The database query timed out'));
  return new OutcomeError(500, outcome('fatal', 'exception', 'Internal server error'));
}
