import type { ServerResponse } from 'node:http';
import type { FhirResponse, ServerSentEvent } from '../core/types.ts';

/** Whether an `Accept` header asks for server-sent events. */
export function acceptsEventStream(accept: string | undefined): boolean {
  return /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept ?? '');
}

/** The `Accept` header without `text/event-stream` (undefined when nothing else is left), to negotiate FHIR formats. */
export function acceptWithoutEventStream(accept: string | undefined): string | undefined {
  const rest = (accept ?? '')
    .split(',')
    .filter((r) => !/^\s*text\/event-stream\s*(;|$)/i.test(r))
    .join(',')
    .trim();
  return rest === '' ? undefined : rest;
}

/**
 * Sends a streamed answer as server-sent events (WHATWG HTML §9.2): each event as `event:` and `data:` lines (one
 * `data:` line per line of its data), flushed as it comes. The format is four lines of text, so no library is used.
 * Stops reading the events when the client goes away.
 */
export async function sendEventStream(
  res: ServerResponse,
  result: FhirResponse & { events: AsyncIterable<ServerSentEvent> },
): Promise<void> {
  res.statusCode = result.status;
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('X-Accel-Buffering', 'no'); // nginx and friends: do not hold the stream back
  res.flushHeaders();
  for await (const e of result.events) {
    if (res.destroyed) break;
    res.write(formatEvent(e));
  }
  res.end();
}

function formatEvent(e: ServerSentEvent): string {
  const name = e.event.replace(/[\r\n]/g, '');
  const data = e.data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}`)
    .join('\n');
  return `event: ${name}\n${data}\n\n`;
}
