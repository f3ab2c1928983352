/** The language model a draft is written by: any OpenAI-compatible chat completions API. */
export interface LlmSettings {
  /** API base, e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama); `/chat/completions` is added. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Longest one attempt may take, first byte to last chunk. */
  timeoutMs: number;
  /** Further attempts after a failure that happened before any text arrived (connection, 429, 5xx, timeout). */
  retries: number;
}

/** The notes module's settings. */
export interface NotesConfig {
  /** Undefined: no model is configured, and drafts come from the offline generator (no data leaves the server). */
  llm?: LlmSettings;
  /** What happens to a draft that states values absent from the inputs: stored with a warning, or refused. */
  unverifiedValues: 'warn' | 'refuse';
}

/**
 * Reads `LLM_BASE_URL`, `LLM_MODEL`, `LLM_API_KEY`, `LLM_TIMEOUT_MS`, `LLM_RETRIES` and `NOTES_UNVERIFIED_VALUES`.
 * A model is used only when both its URL and its name are set; one without the other stops the start, as does any
 * malformed value (a typo must not send data somewhere, or silently fall back).
 */
export function loadNotesConfig(env: NodeJS.ProcessEnv): NotesConfig {
  const baseUrl = env.LLM_BASE_URL?.trim() || undefined;
  const model = env.LLM_MODEL?.trim() || undefined;
  if (Boolean(baseUrl) !== Boolean(model)) throw new Error('LLM_BASE_URL and LLM_MODEL must be set together');
  const mode = env.NOTES_UNVERIFIED_VALUES?.trim() || 'warn';
  if (mode !== 'warn' && mode !== 'refuse') throw new Error('NOTES_UNVERIFIED_VALUES must be warn or refuse');
  if (!baseUrl || !model) return { unverifiedValues: mode };
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new Error(`LLM_BASE_URL is not a URL: ${baseUrl}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('LLM_BASE_URL must be http(s)');
  return {
    unverifiedValues: mode,
    llm: {
      baseUrl: baseUrl.replace(/\/+$/, ''),
      model,
      apiKey: env.LLM_API_KEY || undefined,
      timeoutMs: whole(env, 'LLM_TIMEOUT_MS', 60_000, 1),
      retries: whole(env, 'LLM_RETRIES', 1, 0),
    },
  };
}

function whole(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number ≥ ${min}`);
  return n;
}
