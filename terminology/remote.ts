import type { Parameters, Resource } from '@medplum/fhirtypes';
import { OutcomeError, outcome } from '../server/fhir/outcomes.ts';
import type { FhirRequest } from '../server/core/types.ts';

/**
 * Delegation to another terminology server (`TERMINOLOGY_SERVER_URL`, e.g. an Ontoserver or tx.fhir.org-style
 * endpoint) for systems and ValueSets this server does not hold. Answers are cached (`TERMINOLOGY_CACHE_SECONDS`,
 * at most CACHE_ENTRIES answers, least recently used out first); a slow, failing or oversized answer is a 502, never
 * a 500 and never taken as "invalid".
 */
const CACHE_ENTRIES = 10_000;
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

const cache = new Map<string, { at: number; resource: Resource }>();

function settings(): { base: string; ttlMs: number; timeoutMs: number } | undefined {
  const base = process.env.TERMINOLOGY_SERVER_URL?.trim().replace(/\/+$/, '');
  if (!base) return undefined;
  return {
    base,
    ttlMs: Number(process.env.TERMINOLOGY_CACHE_SECONDS ?? 3600) * 1000,
    timeoutMs: Number(process.env.TERMINOLOGY_SERVER_TIMEOUT_MS ?? 10_000),
  };
}

/** Whether a remote terminology server is configured. */
export function hasRemote(): boolean {
  return settings() !== undefined;
}

/** Sends the same operation request to the remote server; undefined when none is configured. */
export async function delegate(path: string, req: FhirRequest): Promise<Resource | undefined> {
  const query = new URLSearchParams();
  for (const [k, values] of Object.entries(req.query)) for (const v of values) query.append(k, v);
  const body = req.method === 'POST' && req.body ? (req.body as Parameters) : undefined;
  return callRemote(path, query, body);
}

/** `POST [remote]/path` with a Parameters body (or GET with the query alone); cached. */
export async function callRemote(
  path: string,
  query: URLSearchParams,
  body?: Parameters,
): Promise<Resource | undefined> {
  const s = settings();
  if (!s) return undefined;
  const qs = query.toString();
  const url = `${s.base}/${path}${qs ? `?${qs}` : ''}`;
  const key = `${url}\u0000${body ? JSON.stringify(body) : ''}`;
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < s.ttlMs) {
    cache.delete(key);
    cache.set(key, hit);
    return hit.resource;
  }
  const resource = await fetchRemote(url, body, s.timeoutMs);
  if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  cache.set(key, { at: Date.now(), resource });
  return resource;
}

async function fetchRemote(url: string, body: Parameters | undefined, timeoutMs: number): Promise<Resource> {
  const fail = (why: string) =>
    new OutcomeError(502, outcome('error', 'transient', `The terminology server did not answer usably: ${why}`));
  let res: Response;
  try {
    res = await fetch(url, {
      method: body ? 'POST' : 'GET',
      headers: { accept: 'application/fhir+json', ...(body ? { 'content-type': 'application/fhir+json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (err) {
    throw fail((err as Error).name === 'TimeoutError' ? 'timed out' : 'unreachable');
  }
  const text = await res.text().catch(() => '');
  if (text.length > MAX_ANSWER_BYTES) throw fail('answer too large');
  let parsed: Resource | undefined;
  try {
    parsed = JSON.parse(text) as Resource;
  } catch {
    throw fail(`HTTP ${res.status}, not JSON`);
  }
  if (res.status >= 400 && res.status < 500 && parsed?.resourceType === 'OperationOutcome')
    throw new OutcomeError(res.status, parsed);
  if (!res.ok || typeof parsed?.resourceType !== 'string') throw fail(`HTTP ${res.status}`);
  return parsed;
}

/** Forgets every cached answer (tests, and an operator changing the remote). */
export function clearRemoteCache(): void {
  cache.clear();
}
