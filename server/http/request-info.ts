import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** A request header as one string (repeated headers joined by commas, as HTTP defines), or undefined. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The client's address. Deployments sit behind a proxy (express runs with `trust proxy` on for the same reason), so
 * the first `X-Forwarded-For` address wins over the socket's.
 */
export function clientAddress(req: IncomingMessage): string | undefined {
  const forwarded = header(req, 'x-forwarded-for')?.split(',')[0]?.trim();
  return forwarded || req.socket.remoteAddress;
}

/** The protocol the client used: `X-Forwarded-Proto` (behind a proxy), else the socket's own. */
export function protocolOf(req: IncomingMessage): string {
  const forwarded = header(req, 'x-forwarded-proto')?.split(',')[0]?.trim();
  return forwarded || ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
}
