import type { IncomingMessage } from 'node:http';
import { finished } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import getRawBody from 'raw-body';
import { badRequest, payloadTooLarge, unsupportedMediaType } from '../fhir/outcomes.ts';

/** Decoders of the `Content-Encoding`s a request body may have. */
const DECODERS: Partial<Record<string, () => NodeJS.ReadWriteStream>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** Whether a request carries a body at all (RFC 9112: a Transfer-Encoding, or a Content-Length above 0). */
export function hasBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  );
}

/**
 * Reads a request body into a Buffer, decoded from its Content-Encoding, refusing more than `limit` bytes (after
 * decoding, so a compressed bomb is refused too) with 413, an unknown encoding with 415 and a broken or truncated body
 * with 400.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const decoder = DECODERS[encoding];
  if (!decoder && encoding !== 'identity') throw unsupportedMediaType(`Unsupported Content-Encoding "${encoding}"`);
  const stream = decoder ? req.pipe(decoder()) : req;
  try {
    return await getRawBody(stream, { limit, length: decoder ? undefined : req.headers['content-length'] });
  } catch (err) {
    if (stream !== req) {
      req.unpipe();
      (stream as unknown as { destroy(): void }).destroy();
    }
    // Reads off the rest of the request before answering, so the client gets the answer instead of a reset.
    req.resume();
    await finished(req).catch(() => {});
    const e = err as { type?: string; message?: string };
    if (e.type === 'entity.too.large') throw payloadTooLarge(`The request body is larger than ${limit} bytes`);
    throw badRequest(`The request body could not be read: ${e.message ?? String(err)}`);
  }
}
