/** The server's answer to a Bundle: its status and parsed JSON body (undefined when there was none). */
export interface BundleReply {
  status: number;
  body: unknown;
}

/** Where a token comes from: none, a given one, or a client_credentials grant renewed when the server refuses it. */
type TokenSource =
  { kind: 'none' } | { kind: 'static'; token: string } | { kind: 'client'; id: string; secret: string; token?: string };

/** The request could not be sent, or a token could not be had; nothing on the server was changed by it. */
export class SendError extends Error {}

/**
 * Posts batch and transaction Bundles to a Tributary's FHIR base (`Prefer: return=minimal`), with a bearer token:
 * the one given, or one from the server's token endpoint (found by SMART discovery) for a client_credentials
 * client with scope `system/*.*`, fetched again once when the server answers 401.
 */
export class BundleSender {
  private readonly source: TokenSource;

  constructor(
    private readonly fhirBase: string,
    auth: { token?: string; clientId?: string; clientSecret?: string },
  ) {
    if (auth.token) this.source = { kind: 'static', token: auth.token };
    else if (auth.clientId && auth.clientSecret)
      this.source = { kind: 'client', id: auth.clientId, secret: auth.clientSecret };
    else this.source = { kind: 'none' };
  }

  /** Posts one Bundle (JSON text) to the base; throws SendError when no answer could be had. */
  async post(text: string): Promise<BundleReply> {
    let reply = await this.send(text);
    if (reply.status === 401 && this.source.kind === 'client' && this.source.token) {
      this.source.token = undefined;
      reply = await this.send(text);
    }
    return reply;
  }

  private async send(text: string): Promise<BundleReply> {
    const headers: Record<string, string> = {
      'content-type': 'application/fhir+json',
      accept: 'application/fhir+json',
      prefer: 'return=minimal',
    };
    const token = await this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(this.fhirBase, { method: 'POST', headers, body: text });
    } catch (err) {
      throw new SendError(`cannot reach ${this.fhirBase}: ${causeOf(err)}`);
    }
    const body = await res.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = body ? JSON.parse(body) : undefined;
    } catch {
      parsed = body.slice(0, 300);
    }
    return { status: res.status, body: parsed };
  }

  private async token(): Promise<string | undefined> {
    const source = this.source;
    if (source.kind === 'none') return undefined;
    if (source.kind === 'static') return source.token;
    source.token ??= await this.clientCredentials(source.id, source.secret);
    return source.token;
  }

  private async clientCredentials(id: string, secret: string): Promise<string> {
    const discovery = `${this.fhirBase}/.well-known/smart-configuration`;
    const endpoint = await fetchJson(discovery, {}).then((c) => c.token_endpoint);
    if (typeof endpoint !== 'string') throw new SendError(`${discovery} names no token_endpoint`);
    const reply = await fetchJson(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=system%2F*.*',
    });
    if (typeof reply.access_token !== 'string') throw new SendError(`${endpoint} gave no access_token`);
    return reply.access_token;
  }
}

async function fetchJson(url: string, init: RequestInit): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new SendError(`cannot reach ${url}: ${causeOf(err)}`);
  }
  const text = await res.text();
  if (!res.ok) throw new SendError(`${url} answered ${res.status}: ${text.slice(0, 300)}`);
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new SendError(`${url} did not answer JSON`);
  }
}

/** undici's `fetch failed` hides the reason (ECONNREFUSED, …) in `cause`. */
function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
