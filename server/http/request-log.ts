import { IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request's id (from `X-Request-Id` when valid, else a UUID). */
    id: string;
    /** A logger whose lines carry `req: { id, method, url }`. */
    log: Logger;
  }
}

/** An `X-Request-Id` we echo and log as given; anything else gets a fresh UUID. */
const VALID_ID = /^[\w\-.:]{1,128}$/;

/** Paths whose requests are not logged (probes and scrapes). */
const QUIET_PATHS = new Set(['/healthz', '/metrics']);

/** The server's logger and the request's own child of it, kept on the request under symbols. */
const BASE_LOGGER = Symbol('tributary.logger');
const CHILD_LOGGER = Symbol('tributary.requestLogger');
type LoggedRequest = IncomingMessage & { [BASE_LOGGER]?: Logger; [CHILD_LOGGER]?: Logger; originalUrl?: string };

// `req.log` is one getter on the prototype rather than a property defined on every request: defining it per request
// gave each request object its own hidden class, which V8 then handles slowly in every function it passes through.
Object.defineProperty(IncomingMessage.prototype, 'log', {
  configurable: true,
  get(this: LoggedRequest): Logger | undefined {
    const base = this[BASE_LOGGER];
    if (!base) return undefined;
    return (this[CHILD_LOGGER] ??= base.child({
      req: { id: this.id, method: this.method, url: this.originalUrl ?? this.url },
    }));
  },
});

/**
 * Request ids and logs: every request gets an id (echoed in `X-Request-Id`), `req.log` is a logger whose lines carry
 * it, and one "request completed" line per request gives its status and duration (info; error for 5xx).
 *
 * Written here instead of using pino-http, which builds each request's child logger eagerly, serializing the request,
 * even when no line is logged at the configured level: that was 10% of the server's CPU on a read by id (CPU profile
 * under `npm run bench`). Here the child logger is made on first use and the closing line only when its level is on.
 */
export function requestLogging(logger: Logger): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const logsErrors = logger.isLevelEnabled('error');
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && VALID_ID.test(given) ? given : randomUUID();
    req.id = id;
    (req as LoggedRequest)[BASE_LOGGER] = logger;
    res.setHeader('X-Request-Id', id);
    if (!logsErrors || QUIET_PATHS.has(req.url ?? '')) return next();
    const started = performance.now();
    // 'close' follows 'finish' on a completed response and comes alone when the client went away first.
    res.once('close', () => {
      const level = res.statusCode >= 500 ? 'error' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const responseTime = Math.round(performance.now() - started);
      const message = res.writableFinished ? 'request completed' : 'request aborted';
      req.log[level]({ res: { statusCode: res.statusCode }, responseTime }, message);
    });
    next();
  };
}
