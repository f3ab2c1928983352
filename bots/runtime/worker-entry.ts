import type { Bundle, Resource } from '@medplum/fhirtypes';
import { inspect } from 'node:util';
import { parentPort } from 'node:worker_threads';
import { BotFhirError, type BotFhirClient, type BotHandler } from '../types.ts';
import type { FhirAnswer, FromThread, RunRequest, ToThread } from './messages.ts';

/** Lines of log a run keeps. */
const MAX_LOG_LINES = 200;

/**
 * The worker-thread side of a bot: imports the bot's module, runs its handler for each `run` message, and gives it a
 * FHIR client whose requests are answered by the main thread (bots/runtime/host.ts), where the server's API and the
 * bot's access rules live. Nothing of the server is loaded here, so a bot's module and memory stay apart from it.
 */
const port = parentPort;
if (!port) throw new Error('worker-entry.ts runs in a worker thread');
const pending = new Map<number, (answer: FhirAnswer) => void>();
let nextId = 1;
let logs: string[] = [];

const post = (message: FromThread) => port.postMessage(message);
const log = (...values: unknown[]) => {
  logs.push(values.map((v) => (typeof v === 'string' ? v : inspect(v, { depth: 4, breakLength: Infinity }))).join(' '));
  if (logs.length > MAX_LOG_LINES) logs = logs.slice(-MAX_LOG_LINES);
};
// Whatever the bot writes to the console belongs to its run's log.
console.log = console.info = console.warn = console.error = console.debug = log;

function call(
  method: string,
  path: string,
  body?: unknown,
  query?: Record<string, string[]>,
  contentType?: string,
): Promise<FhirAnswer> {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    post({ type: 'fhir', id, method, path, body, query, contentType });
  });
}

async function expectOk(answer: Promise<FhirAnswer>): Promise<Resource | undefined> {
  const { status, resource } = await answer;
  if (status >= 400)
    throw new BotFhirError(status, resource?.resourceType === 'OperationOutcome' ? resource : undefined);
  return resource;
}

function queryOf(query: Record<string, string> | string | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(query ?? '')) (out[k] ??= []).push(v);
  return out;
}

const fhir: BotFhirClient = {
  read: async <T extends Resource>(type: string, id: string) => (await expectOk(call('GET', `${type}/${id}`))) as T,
  search: async <T extends Resource>(type: string, query?: Record<string, string> | string) =>
    (await expectOk(call('GET', type, undefined, queryOf(query)))) as Bundle<T>,
  create: async <T extends Resource>(resource: T) =>
    (await expectOk(call('POST', resource.resourceType, resource))) as T,
  update: async <T extends Resource>(resource: T) =>
    (await expectOk(call('PUT', `${resource.resourceType}/${resource.id}`, resource))) as T,
  patch: async <T extends Resource>(type: string, id: string, operations: unknown[]) =>
    (await expectOk(call('PATCH', `${type}/${id}`, operations, undefined, 'application/json-patch+json'))) as T,
  delete: async (type: string, id: string) => void (await expectOk(call('DELETE', `${type}/${id}`))),
  request: async <T extends Resource>(method: string, path: string, body?: unknown) => {
    const [p, q] = path.split('?');
    const { status, resource } = await call(method.toUpperCase(), p, body, queryOf(q));
    return { status, resource: resource as T | undefined };
  },
};

async function run(req: RunRequest): Promise<void> {
  logs = [];
  try {
    const mod = (await import(req.moduleUrl)) as { handler?: BotHandler };
    if (typeof mod.handler !== 'function') throw new Error(`${req.moduleUrl} exports no handler`);
    const result = await mod.handler({ resource: req.resource, event: req.event, fhir, log });
    post({ type: 'done', ok: true, result: JSON.parse(JSON.stringify(result ?? null)), logs });
  } catch (err) {
    post({ type: 'done', ok: false, error: (err as Error)?.message ?? String(err), logs });
  }
}

port.on('message', (message: ToThread) => {
  if (message.type === 'fhir-answer') {
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  } else if (message.type === 'run') {
    void run(message);
  }
});
