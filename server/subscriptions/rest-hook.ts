import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';

/** An HTTP notification to send. */
export interface OutgoingNotification {
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** Longest part of a receiver's reply kept for the error message. */
const REPLY_SNIPPET = 300;

/**
 * POSTs a notification and resolves when the receiver answers 2xx; rejects with a short reason otherwise (status and
 * the start of the reply, a network error, or the timeout). Written on node:http rather than fetch because the
 * connection must resolve hosts through the SSRF policy's `lookup` (endpoint-policy.ts) and fetch offers no hook for
 * it without a second HTTP client library.
 */
export function postNotification(n: OutgoingNotification, timeoutMs: number, lookup: LookupFunction): Promise<void> {
  const url = new URL(n.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const body = n.body === undefined ? undefined : Buffer.from(n.body);
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        lookup,
        timeout: timeoutMs,
        headers: { ...n.headers, 'content-length': String(body?.length ?? 0), 'user-agent': 'Tributary-Subscriptions' },
      },
      (res) => {
        let reply = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (reply.length < REPLY_SNIPPET) reply += chunk;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve();
          else reject(new Error(`the endpoint answered ${status}${reply ? `: ${reply.slice(0, REPLY_SNIPPET)}` : ''}`));
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new Error(err.message)));
    req.on('close', () => clearTimeout(timer));
    req.end(body);
  });
}
