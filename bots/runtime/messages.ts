import type { Resource } from '@medplum/fhirtypes';
import type { BotEvent } from '../types.ts';

/** A FHIR request a bot makes through its client (thread → main). */
export interface FhirCall {
  type: 'fhir';
  id: number;
  method: string;
  path: string;
  query?: Record<string, string[]>;
  body?: unknown;
  contentType?: string;
}

/** The answer to a FhirCall (main → thread). */
export interface FhirAnswer {
  type: 'fhir-answer';
  id: number;
  status: number;
  resource?: Resource;
}

/** Starts a run (main → thread). */
export interface RunRequest {
  type: 'run';
  moduleUrl: string;
  resource?: Resource;
  event: BotEvent;
}

/** The end of a run (thread → main). */
export interface RunResult {
  type: 'done';
  ok: boolean;
  /** The handler's return value (JSON-safe) or the error message. */
  result?: unknown;
  error?: string;
  logs: string[];
}

export type ToThread = RunRequest | FhirAnswer;
export type FromThread = FhirCall | RunResult;
