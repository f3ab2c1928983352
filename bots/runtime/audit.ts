import type { AuditEvent, AuditEventEntity, Reference } from '@medplum/fhirtypes';
import type { BotEvent } from '../types.ts';

/** Longest log tail and result text kept in a run's AuditEvent. */
const MAX_TEXT = 4096;

/** A finished bot run, for its AuditEvent. */
export interface BotRunRecord {
  agent: string;
  event: BotEvent;
  input?: Reference;
  ok: boolean;
  error?: string;
  durationMs: number;
  logs: string[];
  result?: unknown;
}

/**
 * The AuditEvent of one bot run: which bot (agent), why (trigger, Subscription, attempt), on which input version,
 * the outcome (0 success, 8 failure with the error), how long it took, its result and the tail of its log.
 */
export function botRunAuditEvent(run: BotRunRecord): AuditEvent {
  const detail = [
    { type: 'trigger', valueString: run.event.trigger },
    { type: 'attempt', valueString: String(run.event.attempt) },
    { type: 'duration-ms', valueString: String(run.durationMs) },
    ...(run.ok && run.result !== undefined && run.result !== null
      ? [{ type: 'result', valueString: tail(JSON.stringify(run.result)) }]
      : []),
    ...(run.logs.length ? [{ type: 'log', valueString: tail(run.logs.join('\n')) }] : []),
  ];
  // The run's details sit on its input (the resource version it ran on), or on the bot itself for scheduled runs.
  const entity: AuditEventEntity[] = [
    {
      what: run.input ?? { reference: run.agent },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
      detail,
    },
  ];
  if (run.event.subscription) entity.push({ what: { reference: run.event.subscription } });
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110100', display: 'Application Activity' },
    subtype: [{ system: 'https://tributary.dev/fhir/CodeSystem/bot-run', code: run.event.trigger }],
    action: 'E',
    recorded: new Date().toISOString(),
    outcome: run.ok ? '0' : '8',
    ...(run.ok ? {} : { outcomeDesc: tail(run.error ?? 'failed') }),
    agent: [{ type: { text: 'bot' }, who: { reference: run.agent }, requestor: true }],
    source: {
      observer: { display: 'Tributary' },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
    entity,
  };
}

function tail(text: string): string {
  return text.length <= MAX_TEXT ? text : `…${text.slice(-MAX_TEXT)}`;
}
