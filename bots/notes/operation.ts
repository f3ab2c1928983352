import type { DocumentReference, OperationOutcome, Parameters } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { keyOf, versionResponse } from '../../server/core/respond.ts';
import { requireValidId, type FhirRouter } from '../../server/core/router.ts';
import type { FhirContext, FhirHandler, ServerSentEvent } from '../../server/core/types.ts';
import { badRequest, outcomeError, OutcomeError, toOutcomeError, tooCostly } from '../../server/fhir/outcomes.ts';
import { checkDraft, collectEvidence, findingsOutcome } from './checker.ts';
import type { NotesConfig } from './config.ts';
import { inputResources, type NoteInputs } from './facts.ts';
import { gatherInputs } from './gather.ts';
import { streamChat, type ChatMessage } from './llm.ts';
import { offlineDraft } from './offline.ts';
import { draftMessages } from './prompt.ts';
import { storeDraft, type DraftAuthor } from './store.ts';

/** Longest prompt sent to a model (characters): a bigger record is refused rather than cut. */
export const MAX_PROMPT_CHARS = 150_000;

/** What `$draft-note` needs of the server. */
export interface DraftNoteDeps {
  router: FhirRouter;
  config: NotesConfig;
  logger: Logger;
}

/** What happens while a draft is written, in order: start, text pieces, the check, then the stored note or a failure. */
type DraftEvent =
  | { kind: 'start'; author: DraftAuthor; inputs: number; withheld: string[] }
  | { kind: 'delta'; text: string }
  | { kind: 'check'; outcome: OperationOutcome }
  | { kind: 'stored'; document: DocumentReference }
  | { kind: 'failed'; error: OutcomeError };

/**
 * `POST Encounter/[id]/$draft-note`: drafts a progress note (SOAP note, patient-friendly summary, next steps) from
 * what the caller may read of the encounter's record, checks every value in it against that record, and stores it as
 * a preliminary DocumentReference with its Provenance. To a caller that accepts `text/event-stream` it answers at
 * once and streams the draft as it is written (events `start`, `delta`, `check`, then `document` or `error`);
 * otherwise it answers 201 with the stored DocumentReference. Refusals: 404 unknown or unreadable encounter, 400 a
 * body that is not a Parameters resource, 400 too-costly an encounter too large to draft from, 422 unverified values
 * when NOTES_UNVERIFIED_VALUES=refuse, 502/504 the model failing.
 */
export function draftNoteHandler(deps: DraftNoteDeps): FhirHandler {
  return async (ctx, req, { id }) => {
    requireValidId(id);
    const body = req.body as Parameters | undefined;
    if (body !== undefined && (typeof body !== 'object' || body.resourceType !== 'Parameters'))
      throw badRequest('The body of $draft-note, when there is one, must be a Parameters resource');
    const inputs = await gatherInputs(deps.router, ctx, id);
    const messages = deps.config.llm ? draftMessages(inputs) : undefined;
    const promptChars = messages?.reduce((n, m) => n + m.content.length, 0) ?? 0;
    if (promptChars > MAX_PROMPT_CHARS)
      throw tooCostly(`Encounter/${id} holds too much data to draft one note from (${promptChars} characters)`);
    const events = draft(deps, ctx, inputs, messages);
    if (req.headers.acceptEventStream) return { status: 200, events: asServerSentEvents(events) };
    for await (const e of events) {
      if (e.kind === 'failed') throw e.error;
      if (e.kind === 'stored')
        return versionResponse(ctx, 201, keyOf(e.document), { resource: e.document }, { location: true });
    }
    throw outcomeError(499, [{ severity: 'error', code: 'exception', diagnostics: 'The caller went away' }]);
  };
}

async function* draft(
  deps: DraftNoteDeps,
  ctx: FhirContext,
  inputs: NoteInputs,
  messages: ChatMessage[] | undefined,
): AsyncGenerator<DraftEvent> {
  const { llm, unverifiedValues } = deps.config;
  const resources = inputResources(inputs);
  const author: DraftAuthor = llm ? { kind: 'llm', model: llm.model, baseUrl: llm.baseUrl } : { kind: 'offline' };
  const counts: Record<string, number> = { inputs: resources.length };
  try {
    yield { kind: 'start', author, inputs: resources.length, withheld: inputs.withheld };
    let text = '';
    if (llm && messages) {
      counts.promptChars = messages.reduce((n, m) => n + m.content.length, 0);
      for await (const piece of streamChat(llm, messages, ctx.signal)) {
        text += piece;
        yield { kind: 'delta', text: piece };
      }
      if (!text.trim())
        throw outcomeError(502, [
          { severity: 'error', code: 'exception', diagnostics: 'The language model answered no text' },
        ]);
    } else {
      text = offlineDraft(inputs);
      yield { kind: 'delta', text };
    }
    // a model's text may hold what no FHIR string may (NUL, control characters, a lone surrogate)
    text = text
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '')
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
    counts.answerChars = text.length;
    const { findings, marked } = checkDraft(text, collectEvidence(resources));
    counts.unverifiedSentences = findings.length;
    const check = findings.length ? findingsOutcome(findings) : undefined;
    if (check) yield { kind: 'check', outcome: check };
    if (check && unverifiedValues === 'refuse') {
      const issue = check.issue.map((i) => ({ ...i, severity: 'error' as const }));
      yield { kind: 'failed', error: outcomeError(422, issue) };
      return;
    }
    if (ctx.signal?.aborted) return;
    const document = await storeDraft(deps.router, ctx, { inputs, text: marked, author, check });
    yield { kind: 'stored', document };
  } catch (err) {
    yield { kind: 'failed', error: toOutcomeError(err) };
  } finally {
    // counts only: what a draft says or is drafted from is never logged
    deps.logger.info({ draftNote: { provider: author.kind, ...counts } }, 'note draft');
  }
}

async function* asServerSentEvents(events: AsyncIterable<DraftEvent>): AsyncGenerator<ServerSentEvent> {
  for await (const e of events) {
    switch (e.kind) {
      case 'start': {
        const model = e.author.kind === 'llm' ? { model: e.author.model } : {};
        yield {
          event: 'start',
          data: JSON.stringify({ author: e.author.kind, ...model, inputs: e.inputs, withheld: e.withheld }),
        };
        break;
      }
      case 'delta':
        yield { event: 'delta', data: JSON.stringify({ text: e.text }) };
        break;
      case 'check':
        yield { event: 'check', data: JSON.stringify(e.outcome) };
        break;
      case 'stored':
        yield { event: 'document', data: JSON.stringify(e.document) };
        break;
      case 'failed':
        yield { event: 'error', data: JSON.stringify(e.error.outcome) };
        break;
    }
  }
}
