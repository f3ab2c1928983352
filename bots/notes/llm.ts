import { OutcomeError, outcomeError } from '../../server/fhir/outcomes.ts';
import type { LlmSettings } from './config.ts';

/** A message of a chat completion request. */
export interface ChatMessage {
  role: 'system' | 'user';
  content: string;
}

/** Longest answer taken from a model (characters): a runaway generation is cut off as a failure. */
const MAX_ANSWER_CHARS = 200_000;
const RETRY_DELAY_MS = 500;

/**
 * Streams the answer of an OpenAI-compatible chat completions API (`POST <base>/chat/completions` with
 * `stream: true`: OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp server), yielding each piece of text as it arrives.
 * Each attempt has `timeoutMs`; a failure before any text arrived (connection refused, 429, 5xx, timeout) is tried
 * again up to `retries` times, a failure after it is not (the caller has shown the text). A provider that ignores
 * `stream` and answers one JSON body is read too. Failures throw an OutcomeError: 504 for a timeout, 502 otherwise,
 * naming the status only: a provider's error text may echo the request.
 */
export async function* streamChat(
  llm: LlmSettings,
  messages: ChatMessage[],
  signal?: AbortSignal,
): AsyncGenerator<string> {
  for (let attempt = 0; ; attempt++) {
    const timeout = AbortSignal.timeout(llm.timeoutMs);
    let started = false;
    try {
      const res = await fetch(completionsUrl(llm.baseUrl), {
        method: 'POST',
        headers: headersFor(llm),
        body: JSON.stringify({ model: llm.model, messages, stream: true, temperature: 0 }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new ProviderFailure(`The language model provider answered ${res.status}`, retryableStatus(res.status));
      }
      for await (const piece of answerPieces(res)) {
        started = true;
        yield piece;
      }
      return;
    } catch (err) {
      if (signal?.aborted) throw outcomeError(499, [issue('exception', 'The caller went away')]);
      const failure = asFailure(err, timeout.aborted, llm.timeoutMs);
      if (!started && failure.retryable && attempt < llm.retries) {
        await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * (attempt + 1)));
        continue;
      }
      throw failure.timedOut
        ? outcomeError(504, [issue('timeout', failure.message)])
        : outcomeError(502, [issue(failure.retryable ? 'transient' : 'exception', failure.message)]);
    }
  }
}

/** `<base>/chat/completions`, keeping a query string (Azure's `?api-version=`) at the end. */
export function completionsUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/chat/completions`;
  return url.href;
}

function headersFor(llm: LlmSettings): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
  if (llm.apiKey) {
    headers.authorization = `Bearer ${llm.apiKey}`;
    // Azure OpenAI takes its key in `api-key`
    if (new URL(llm.baseUrl).hostname.endsWith('.openai.azure.com')) headers['api-key'] = llm.apiKey;
  }
  return headers;
}

/**
 * The text of an answer: the `choices[0].delta.content` of each `data:` line of a server-sent event stream until
 * `[DONE]`, or `choices[0].message.content` of a JSON body. The stream is parsed here: OpenAI's framing is `data:`
 * lines only, a few lines of code, where an event-source library would add a dependency for no gain.
 */
async function* answerPieces(res: Response): AsyncGenerator<string> {
  let total = 0;
  const counted = (piece: string) => {
    total += piece.length;
    if (total > MAX_ANSWER_CHARS) throw new ProviderFailure('The language model’s answer is too long', false);
    return piece;
  };
  if ((res.headers.get('content-type') ?? '').includes('application/json')) {
    const body = parseJson(await res.text()) as { choices?: { message?: { content?: unknown } }[] };
    const content = body.choices?.[0]?.message?.content;
    if (typeof content !== 'string') throw new ProviderFailure('The language model’s answer has no content', false);
    yield counted(content);
    return;
  }
  if (!res.body) throw new ProviderFailure('The language model’s answer has no body', true);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of res.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, '');
      buffer = buffer.slice(end + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') return;
      const chunk = parseJson(data) as { choices?: { delta?: { content?: unknown } }[]; error?: unknown };
      if (chunk.error) throw new ProviderFailure('The language model provider reported an error mid-answer', false);
      const content = chunk.choices?.[0]?.delta?.content;
      if (typeof content === 'string' && content) yield counted(content);
    }
  }
  throw new ProviderFailure('The language model’s answer ended before [DONE]', true);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProviderFailure('The language model provider sent malformed JSON', false);
  }
}

class ProviderFailure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly timedOut = false,
  ) {
    super(message);
  }
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function asFailure(err: unknown, timedOut: boolean, timeoutMs: number): ProviderFailure {
  if (timedOut) return new ProviderFailure(`The language model did not answer within ${timeoutMs} ms`, true, true);
  if (err instanceof ProviderFailure) return err;
  if (err instanceof OutcomeError) return new ProviderFailure(err.message, false);
  return new ProviderFailure('The language model provider could not be reached', true);
}

function issue(code: 'exception' | 'timeout' | 'transient', diagnostics: string) {
  return { severity: 'error' as const, code, diagnostics };
}
