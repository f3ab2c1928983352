import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local OpenAI-compatible chat completions server for tests (never used by the product): it answers
 * `POST /v1/chat/completions` by rewording the facts of the request's user message into a note, streamed in small
 * chunks. `behaviour` (changeable between requests) picks how it answers:
 * - `faithful`: a note made only of the facts' own words and values;
 * - `inventive`: the same plus a sentence with a temperature, a drug, a dose and a date the facts do not hold;
 * - `flaky`: answers 503 to every other request (the first included), the faithful note otherwise;
 * - `slow`: waits `slowMs` before its first byte;
 * - `json`: ignores `stream` and answers one JSON body;
 * - `cut`: closes the stream before `[DONE]`;
 * - `unauthorized`: 401;
 * - `garbled`: the faithful note with NUL, control characters and a lone surrogate in it.
 */
export interface LlmTestServer {
  baseUrl: string;
  behaviour: Behaviour;
  /** Requests received so far: their body and Authorization header. */
  requests: {
    body: { model: string; messages: { role: string; content: string }[]; stream?: boolean };
    auth?: string;
  }[];
  close(): Promise<void>;
}

/** How the test server answers. */
export type Behaviour = 'faithful' | 'inventive' | 'flaky' | 'slow' | 'json' | 'cut' | 'unauthorized' | 'garbled';

/** An invented sentence: each value in it is absent from any Synthea record. */
export const INVENTED_SENTENCE = 'Temperature was 39.47 Cel on 2031-02-14 and Zanubrutinib 83 mg was started.';

/** Starts the test server on a free loopback port. */
export async function startLlmTestServer(options: { slowMs?: number } = {}): Promise<LlmTestServer> {
  const requests: LlmTestServer['requests'] = [];
  let flakyCount = 0;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = JSON.parse(await readAll(req)) as LlmTestServer['requests'][number]['body'];
      requests.push({ body, auth: req.headers.authorization });
      const facts = body.messages.find((m) => m.role === 'user')?.content ?? '';
      const note = faithfulNote(facts);
      switch (self.behaviour) {
        case 'unauthorized':
          return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad key"}');
        case 'flaky':
          if (flakyCount++ % 2 === 0) return void res.writeHead(503).end('{"error":"overloaded"}');
          return stream(res, note);
        case 'slow':
          await new Promise((r) => setTimeout(r, options.slowMs ?? 2000));
          return stream(res, note);
        case 'json':
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: note } }] }));
        case 'cut':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(chunk(note.slice(0, 40)));
          await new Promise((r) => setTimeout(r, 50)); // the first chunk reaches the client, then the connection drops
          return void res.destroy();
        case 'garbled':
          return stream(res, `\u0000${note}\u0007\ud800\n`);
        case 'inventive':
          return stream(res, `${note}\n${INVENTED_SENTENCE}\n`);
        default:
          return stream(res, note);
      }
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const self: LlmTestServer = {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    behaviour: 'faithful',
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return self;
}

/** A note in the model's sections, every value line taken from the facts (`- …` lines under `Kind:` headings). */
export function faithfulNote(facts: string): string {
  const groups = new Map<string, string[]>();
  let current = '';
  for (const line of facts.split('\n')) {
    if (/^[A-Z][A-Za-z ]+:$/.test(line)) current = line.slice(0, -1);
    else if (line.startsWith('- ') && current) groups.set(current, [...(groups.get(current) ?? []), line.slice(2)]);
  }
  const bullets = (kind: string) => (groups.get(kind) ?? []).map((l) => `- ${l}`);
  return [
    '## SOAP note',
    '### Subjective',
    ...bullets('Encounter'),
    ...bullets('Messages'),
    '### Objective',
    ...bullets('Observations'),
    '### Assessment',
    ...bullets('Conditions'),
    '### Plan',
    ...bullets('Procedures'),
    ...bullets('Medication requests'),
    ...bullets('Allergies').map((l) => `${l} (allergy on record)`),
    '## Patient-friendly summary',
    `You came in for this visit: ${groups.get('Encounter')?.[0] ?? 'not recorded'}.`,
    '## Next steps',
    ...(groups.get('Medication requests') ?? []).map((m) => `- Keep taking ${m} as prescribed.`),
    '- Your clinician will review this note.',
    '',
  ].join('\n');
}

async function stream(res: ServerResponse, text: string): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (let i = 0; i < text.length; i += 17) {
    res.write(chunk(text.slice(i, i + 17)));
    await new Promise((r) => setTimeout(r, 1)); // chunks arrive one by one, as a model's do
  }
  res.end('data: [DONE]\n\n');
}

function chunk(content: string): string {
  return `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;
}

async function readAll(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}
