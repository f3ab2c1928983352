import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';

/**
 * How a bot is registered (exported as `registration` by its module, beside `handler`): which subscription criteria
 * trigger it, or on which cron schedule it runs, with which SMART scopes, and within which limits.
 */
export interface BotRegistration {
  /** Unique name: lower-case letters, digits and dashes (the bot's Device is `Device/bot-<name>`). */
  name: string;
  description: string;
  /** Subscription criteria (`Observation?code=…`) that trigger a run for each matching write. */
  triggers?: string[];
  /** node-cron schedule (UTC) for periodic runs, e.g. `0 2 * * *` for 02:00 every night. */
  schedule?: string;
  /** SMART `system/` scopes of the bot's FHIR client, e.g. `system/Observation.rus`. */
  scopes: string;
  /** Longest a run may take before the worker thread is stopped (default 30 s). */
  timeoutMs?: number;
  /** Runs before a failing notification goes to the dead letter (default: SUBSCRIPTION_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** Heap limit of the bot's worker thread in MB (default 128). */
  memoryMb?: number;
}

/** Why a bot runs. */
export interface BotEvent {
  trigger: 'subscription' | 'schedule' | 'execute';
  /** The triggering Subscription (`Subscription/bot-…`). */
  subscription?: string;
  /** The write that triggered it. */
  action?: 'create' | 'update' | 'delete';
  eventNumber?: number;
  /** The slot a scheduled run is for (ISO instant). */
  scheduledFor?: string;
  /** Which attempt this run is (1 for the first). */
  attempt: number;
}

/** An error answer of the FHIR API, as the bot's client throws it. */
export class BotFhirError extends Error {
  constructor(
    readonly status: number,
    readonly outcome?: OperationOutcome,
  ) {
    super(outcome?.issue?.map((i) => i.diagnostics ?? i.code).join('; ') || `FHIR request failed with ${status}`);
    this.name = 'BotFhirError';
  }
}

/**
 * The bot's FHIR client: the server's own API, in process, with the bot's identity (`Device/bot-<name>`) and
 * scopes; every resource it creates or updates gets a Provenance naming the bot and its input.
 */
export interface BotFhirClient {
  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T>;
  search<T extends Resource = Resource>(
    resourceType: string,
    query?: Record<string, string> | string,
  ): Promise<Bundle<T>>;
  create<T extends Resource>(resource: T): Promise<T>;
  update<T extends Resource>(resource: T): Promise<T>;
  patch<T extends Resource = Resource>(resourceType: string, id: string, operations: unknown[]): Promise<T>;
  delete(resourceType: string, id: string): Promise<void>;
  /** Any interaction: `request('POST', '', bundle)` for a transaction, `request('GET', 'Patient/1/$everything')`. */
  request<T extends Resource = Resource>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; resource?: T }>;
}

/** What a bot's handler gets. */
export interface BotInput<T extends Resource = Resource> {
  /** The triggering version (absent for scheduled runs and deletions). */
  resource?: T;
  event: BotEvent;
  fhir: BotFhirClient;
  /** Lines kept in the run's AuditEvent (last 4 kB) and returned by `$execute`. */
  log(...values: unknown[]): void;
}

/** A bot's handler: its return value (JSON) is reported by `$execute` and in the run's AuditEvent. */
export type BotHandler<T extends Resource = Resource> = (input: BotInput<T>) => unknown | Promise<unknown>;
