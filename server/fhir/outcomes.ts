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
/** 400 `too-costly`: a request over one of the server's work limits (search chains, parameters, …). */
export const tooCostly = fail(400, 'too-costly');
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
  const unavailable = databaseUnavailableCause(pg);
  if (unavailable)
    return new OutcomeError(
      503,
      outcome('error', 'transient', `The database is unavailable (${unavailable}); retry shortly`),
    );
  return new OutcomeError(500, outcome('fatal', 'exception', 'Internal server error'));
}

/** Socket errors of a connection to the database that did not open or broke, and what they mean. */
const CONNECTION_ERRNOS = new Map([
  ['ECONNREFUSED', 'connection refused'],
  ['ECONNRESET', 'connection reset'],
  ['EPIPE', 'connection lost'],
  ['ETIMEDOUT', 'connection timed out'],
  ['EHOSTUNREACH', 'host unreachable'],
  ['ENETUNREACH', 'network unreachable'],
  ['ENOTFOUND', 'host not found'],
  ['EAI_AGAIN', 'host name lookup failed'],
]);

/**
 * Why the database cannot serve a request, when an error says so rather than that the request is wrong: SQLSTATE
 * class 08 (connection exception; not 08P01, a protocol violation), 57P01–57P03 (terminated by the administrator, a
 * crash or a shutdown; still starting up), 53300 (too many connections), a refused or broken socket, or
 * node-postgres's own messages for a connection that ended under a query or could not be had in time. The cause
 * names no address: the client learns what happened, not where the database is.
 */
export function databaseUnavailableCause(err: { code?: string; message?: string } | undefined): string | undefined {
  const code = err?.code ?? '';
  const message = err?.message ?? '';
  if ((code.startsWith('08') && code !== '08P01') || ['57P01', '57P02', '57P03', '53300'].includes(code))
    return message;
  if (CONNECTION_ERRNOS.has(code)) return CONNECTION_ERRNOS.get(code);
  if (
    /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(
      message,
    )
  )
    return message;
  return undefined;
}
