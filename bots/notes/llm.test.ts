import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OutcomeError } from '../../server/fhir/outcomes.ts';
import { loadNotesConfig, type LlmSettings } from './config.ts';
import { streamChat, type ChatMessage } from './llm.ts';

const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'rules' },
  { role: 'user', content: 'facts' },
];

function sse(pieces: string[]): string {
  return (
    pieces.map((content) => `data: ${JSON.stringify({ choices: [{ delta: { content } }] })}\n\n`).join('') +
    'data: [DONE]\n\n'
  );
}

async function collect(llm: LlmSettings): Promise<string> {
  let text = '';
  for await (const piece of streamChat(llm, MESSAGES)) text += piece;
  return text;
}

async function failure(llm: LlmSettings): Promise<OutcomeError> {
  try {
    await collect(llm);
  } catch (err) {
    return err as OutcomeError;
  }
  throw new Error('expected a failure');
}

const openai: LlmSettings = {
  baseUrl: 'https://api.openai.com/v1',
  model: 'gpt-4o-mini',
  apiKey: 'sk-test',
  timeoutMs: 5000,
  retries: 1,
};

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

describe('hosted OpenAI-compatible providers (nock)', () => {
  it('OpenAI: streams the chunks of /v1/chat/completions with a bearer key', async () => {
    const scope = nock('https://api.openai.com')
      .post('/v1/chat/completions', (body) => body.model === 'gpt-4o-mini' && body.stream === true)
      .matchHeader('authorization', 'Bearer sk-test')
      .reply(200, sse(['## SOAP', ' note\n', 'Temperature 38.2 Cel.']), { 'content-type': 'text/event-stream' });
    expect(await collect(openai)).toBe('## SOAP note\nTemperature 38.2 Cel.');
    expect(scope.isDone()).toBe(true);
  });

  it('Azure OpenAI: the deployment URL keeps its api-version, the key goes in api-key', async () => {
    const scope = nock('https://myres.openai.azure.com')
      .post('/openai/deployments/gpt4o/chat/completions')
      .query({ 'api-version': '2024-06-01' })
      .matchHeader('api-key', 'az-key')
      .reply(200, sse(['ok']), { 'content-type': 'text/event-stream' });
    const azure = {
      ...openai,
      baseUrl: 'https://myres.openai.azure.com/openai/deployments/gpt4o?api-version=2024-06-01',
      apiKey: 'az-key',
    };
    expect(await collect(azure)).toBe('ok');
    expect(scope.isDone()).toBe(true);
  });

  it('retries a 429 once, then gives up with 502', async () => {
    nock('https://api.openai.com')
      .post('/v1/chat/completions')
      .reply(429)
      .post('/v1/chat/completions')
      .reply(200, sse(['second']), { 'content-type': 'text/event-stream' });
    expect(await collect(openai)).toBe('second');
    nock('https://api.openai.com').post('/v1/chat/completions').times(2).reply(500, 'patient data echoed');
    const err = await failure(openai);
    expect(err.status).toBe(502);
    expect(err.message).toBe('The language model provider answered 500'); // never the provider's text
  });

  it('does not retry a refusal (401) or an error reported mid-answer', async () => {
    nock('https://api.openai.com').post('/v1/chat/completions').reply(401, '{"error":"bad key"}');
    expect((await failure(openai)).status).toBe(502);
    expect(nock.pendingMocks()).toEqual([]);
    nock('https://api.openai.com')
      .post('/v1/chat/completions')
      .reply(200, 'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: {"error":{"message":"overloaded"}}\n\n', {
        'content-type': 'text/event-stream',
      });
    expect((await failure(openai)).status).toBe(502);
  });

  it('refuses a runaway answer', async () => {
    const long = Array.from({ length: 30 }, () => 'x'.repeat(10_000));
    nock('https://api.openai.com')
      .post('/v1/chat/completions')
      .reply(200, sse(long), { 'content-type': 'text/event-stream' });
    expect((await failure(openai)).message).toContain('too long');
  });
});

describe('settings', () => {
  it('uses a model only when its URL and name are both set; refuses what is malformed', () => {
    expect(loadNotesConfig({})).toEqual({ unverifiedValues: 'warn' });
    expect(loadNotesConfig({ LLM_BASE_URL: 'http://127.0.0.1:11434/v1/', LLM_MODEL: 'llama3' }).llm).toEqual({
      baseUrl: 'http://127.0.0.1:11434/v1',
      model: 'llama3',
      apiKey: undefined,
      timeoutMs: 60_000,
      retries: 1,
    });
    expect(() => loadNotesConfig({ LLM_BASE_URL: 'https://api.openai.com/v1' })).toThrow(/together/);
    expect(() => loadNotesConfig({ LLM_MODEL: 'gpt-4o' })).toThrow(/together/);
    expect(() => loadNotesConfig({ LLM_BASE_URL: 'file:///etc', LLM_MODEL: 'm' })).toThrow(/http/);
    expect(() => loadNotesConfig({ LLM_BASE_URL: 'http://x', LLM_MODEL: 'm', LLM_TIMEOUT_MS: '0' })).toThrow(
      /LLM_TIMEOUT_MS/,
    );
    expect(() => loadNotesConfig({ NOTES_UNVERIFIED_VALUES: 'ignore' })).toThrow(/warn or refuse/);
  });
});
