import express, { type Request, type Response } from 'express';
import getRawBody from 'raw-body';
import type { AuthServer } from '../../../server/auth/index.ts';
import {
  badRequest,
  forbidden,
  OutcomeError,
  payloadTooLarge,
  toOutcomeError,
  unsupportedMediaType,
} from '../../../server/fhir/outcomes.ts';
import type { AccessContext } from '../../../server/core/types.ts';
import { batchOfAcks } from '../ack.ts';
import type { Feeds } from '../feeds.ts';
import { encode, ER7, type Hl7v2Ingest, type Reply } from '../ingest.ts';
import { mapMessage } from '../map/index.ts';
import { splitPayload } from '../parse/batch.ts';
import { decodePayload } from '../parse/decode.ts';
import { V2Message, V2ParseError } from '../parse/message.ts';

/** Media types `POST /hl7/v2` reads: ER7 (the pipe-and-hat encoding) under its registered and common names. */
const ER7_TYPES = new Set([ER7, 'application/hl7-v2', 'application/hl7-v2+er7', 'x-application/hl7-v2']);

/**
 * `POST /hl7/v2` (one message or a batch file; the body of the answer is its ACK or ACKs, a batch for a batch) and
 * `POST /hl7/v2/$convert` (the FHIR transaction Bundle a message maps to, nothing written), for systems without MLLP
 * and for interface analysts. Same authorization as the FHIR API: a token that may create `MessageHeader` (e.g.
 * `system/MessageHeader.c`) or write everything.
 */
export function hl7v2HttpRoutes(deps: {
  auth: Pick<AuthServer, 'admit'>;
  ingest: Hl7v2Ingest;
  feeds: Feeds;
  maxBytes: number;
}): express.Router {
  const router = express.Router();
  const admitted = async (req: Request, res: Response): Promise<Buffer | undefined> => {
    const access = await deps.auth.admit(req, res);
    if (!access) return undefined;
    if (!mayIngest(access)) throw forbidden('Sending HL7 v2 needs a scope that may create MessageHeader');
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!ER7_TYPES.has(type)) throw unsupportedMediaType(`The body must be ${ER7}`);
    try {
      return await getRawBody(req, { limit: deps.maxBytes });
    } catch (err) {
      if ((err as { type?: string }).type === 'entity.too.large')
        throw payloadTooLarge(`The body is larger than ${deps.maxBytes} bytes`);
      throw badRequest('The body could not be read');
    }
  };

  router.post('/hl7/v2', async (req, res) => {
    const body = await admitted(req, res);
    if (!body) return;
    const later: Reply[] = [];
    const replies = await deps.ingest.receive(body, { via: 'http', later: (r) => later.push(r) });
    const all = [...replies, ...later];
    const batch = splitPayload(body.toString('latin1')).batch;
    const text = batch ? batchOfAcks(all.map((r) => r.text)) : all.map((r) => r.text).join('\r');
    const charset = all[0]?.charset ?? 'utf-8';
    res.status(200).type(`${ER7}; charset=${charset}`).send(encode(text, charset));
  });

  router.post('/hl7/v2/$convert', async (req, res) => {
    const body = await admitted(req, res);
    if (!body) return;
    try {
      const decoded = decodePayload(body);
      const text = splitPayload(decoded.text).messages[0];
      if (!text) throw new V2ParseError('No MSH segment: not an HL7 v2 message');
      const message = V2Message.parse(text, decoded.charset);
      const h = message.header;
      const feed = deps.feeds.match(h.sendingApplication, h.sendingFacility);
      const bundle = await mapMessage(message, { feed, raw: body, key: `${feed.key}|convert|${h.controlId}` });
      res.status(200).type('application/fhir+json').send(JSON.stringify(bundle));
    } catch (err) {
      if (err instanceof V2ParseError) throw badRequest(err.message, err.location.segment);
      throw err instanceof OutcomeError ? err : toOutcomeError(err);
    }
  });
  return router;
}

/** Whether an access may send messages in: create MessageHeader (absent `permits`: a trusted in-process identity). */
function mayIngest(access: AccessContext): boolean {
  return !access.permits || access.permits('c', 'MessageHeader');
}
