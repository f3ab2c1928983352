import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { buildAck } from '../ack.ts';
import type { Hl7v2Config } from '../config.ts';
import { encode, type Hl7v2Ingest, type Reply } from '../ingest.ts';
import { V2_ERROR, V2Message } from '../parse/message.ts';
import { MllpFramer, mllpFrame } from './framer.ts';

/** Frames one connection may have waiting before the door stops reading from it (back-pressure). */
const MAX_PENDING_FRAMES = 64;

/** A running MLLP listener. */
export interface MllpListener {
  port: number;
  /** Open connections now. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * The MLLP listener (plain TCP, or TLS with `MLLP_TLS_CERT`/`MLLP_TLS_KEY`): frames each connection's bytes, hands
 * each frame to the ingest in arrival order and writes its ACKs back, one frame each. Garbage and cut-off frames are
 * logged and dropped; an oversize frame is answered with a NAK and skipped; a connection idle for `MLLP_IDLE_MS` is
 * closed; beyond `MLLP_MAX_CONNECTIONS` new connections are refused. Nothing one connection sends affects another.
 */
export async function startMllpListener(
  config: Hl7v2Config,
  ingest: Hl7v2Ingest,
  logger: Logger,
): Promise<MllpListener> {
  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket) => serveConnection(socket, config, ingest, logger, sockets);
  const server =
    config.tlsCert && config.tlsKey
      ? tls.createServer({ cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }, onConnection)
      : net.createServer(onConnection);
  server.maxConnections = config.maxConnections;
  server.on('drop', (d) =>
    logger.warn({ remote: d?.remoteAddress }, 'mllp connection refused: MLLP_MAX_CONNECTIONS reached'),
  );
  server.on('tlsClientError', (err: Error) => logger.info({ issue: err.message }, 'mllp tls handshake failed'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'mllp listener error'));
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, tls: !!config.tlsCert }, 'MLLP listener ready');
  return {
    port,
    connections: () => sockets.size,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.end();
      setTimeout(() => sockets.forEach((s) => s.destroy()), 2000).unref();
      await closed;
    },
  };
}

function serveConnection(
  socket: net.Socket,
  config: Hl7v2Config,
  ingest: Hl7v2Ingest,
  logger: Logger,
  sockets: Set<net.Socket>,
): void {
  sockets.add(socket);
  const log = logger.child({ remote: `${socket.remoteAddress}:${socket.remotePort}` });
  let pending = 0;
  let chain = Promise.resolve();
  const send = (reply: Reply) => {
    if (!socket.destroyed && socket.writable) socket.write(mllpFrame(encode(reply.text, reply.charset)));
  };
  const framer = new MllpFramer(config.maxBytes, {
    frame(content) {
      pending++;
      if (pending >= MAX_PENDING_FRAMES) socket.pause();
      // Frames of one connection are handled one after the other: their ACKs go back in the order they came.
      chain = chain
        .then(async () => {
          const replies = await ingest.receive(content, { via: 'mllp', later: send });
          for (const reply of replies) send(reply);
          if (--pending < MAX_PENDING_FRAMES && socket.isPaused()) socket.resume();
        })
        .catch((err: unknown) => log.error({ err }, 'mllp frame not handled'));
    },
    oversize(head) {
      log.warn({ maxBytes: config.maxBytes }, 'mllp frame over MLLP_MAX_BYTES: rejected');
      let message: V2Message | undefined;
      try {
        message = V2Message.parse(head.toString('latin1').split(/\r|\n/)[0]);
      } catch {
        message = undefined;
      }
      const nak = buildAck(message, 'AR', [
        { code: V2_ERROR.internalError, diagnostics: `The message is larger than ${config.maxBytes} bytes` },
      ]);
      chain = chain.then(() => send({ text: nak, charset: 'utf-8', code: 'AR' }));
    },
    discarded(bytes, why) {
      log.warn({ bytes, why }, 'mllp bytes outside a frame discarded');
    },
  });
  socket.setTimeout(config.idleMs, () => {
    log.info({ idleMs: config.idleMs }, 'mllp connection idle: closed');
    socket.destroy();
  });
  socket.on('data', (data: Buffer) => framer.push(data));
  socket.on('error', (err) => log.info({ issue: err.message }, 'mllp connection error'));
  socket.on('close', () => sockets.delete(socket));
}
