import { createHash } from 'node:crypto';
import type { Coding, DocumentReference, OperationOutcome, Provenance, ProvenanceAgent } from '@medplum/fhirtypes';
import { fhirRequest } from '../../server/core/request.ts';
import { responseResource } from '../../server/core/respond.ts';
import type { FhirRouter } from '../../server/core/router.ts';
import type { FhirContext } from '../../server/core/types.ts';
import { inputResources, type NoteInputs } from './facts.ts';

/** The notes bot's identity (its Device, made by the bot runtime). */
export const BOT_DEVICE = 'Device/bot-notes';
/** Tags a stored draft with how it was written. */
export const DRAFT_TAG_SYSTEM = 'https://tributary.dev/fhir/CodeSystem/note-draft';
/** Extension on a draft whose text states values absent from its inputs: points at the contained OperationOutcome. */
export const UNVERIFIED_EXTENSION = 'https://tributary.dev/fhir/StructureDefinition/unverified-values';
const MODEL_SYSTEM = 'https://tributary.dev/fhir/llm-model';
const LOINC = 'http://loinc.org';
const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';

/** Who wrote a draft's text: a model (name and API base) or the offline template. */
export type DraftAuthor = { kind: 'llm'; model: string; baseUrl: string } | { kind: 'offline' };

/** A finished, checked draft ready to be stored. */
export interface FinishedDraft {
  inputs: NoteInputs;
  /** The text as stored: unsupported values already marked. */
  text: string;
  author: DraftAuthor;
  /** The checker's findings; absent when it found nothing. */
  check?: OperationOutcome;
}

/**
 * Stores a draft as a DocumentReference (docStatus `preliminary`, LOINC 11506-3 progress note, the text as a
 * Markdown attachment) and its Provenance (agents: the notes bot, the model or template, and the caller; entities:
 * the input versions) in one database transaction. The DocumentReference is created through the router with the
 * caller's access, so the guard decides whether the caller may create it there; the Provenance goes with it, as the
 * in-process client writes every door's.
 */
export async function storeDraft(
  router: FhirRouter,
  ctx: FhirContext,
  draft: FinishedDraft,
): Promise<DocumentReference> {
  const doc = documentOf(draft);
  return ctx.repo.transaction(async (repo) => {
    const txCtx = { ...ctx, repo };
    const res = await router.handle(txCtx, fhirRequest({ method: 'POST', url: 'DocumentReference', body: doc }));
    const stored = responseResource(res) as DocumentReference;
    await repo.create(provenanceOf(stored, draft, ctx.access.actor));
    return stored;
  });
}

function documentOf(draft: FinishedDraft): DocumentReference {
  const { encounter } = draft.inputs;
  const data = Buffer.from(draft.text, 'utf8');
  const tag: Coding =
    draft.author.kind === 'llm'
      ? { system: DRAFT_TAG_SYSTEM, code: 'ai-drafted', display: 'Drafted by a language model' }
      : {
          system: DRAFT_TAG_SYSTEM,
          code: 'offline-template',
          display: 'Drafted by the offline template, not AI-written',
        };
  const now = new Date().toISOString();
  return {
    resourceType: 'DocumentReference',
    meta: { tag: [tag] },
    ...(draft.check
      ? {
          contained: [{ ...draft.check, id: 'unverified' }],
          extension: [{ url: UNVERIFIED_EXTENSION, valueReference: { reference: '#unverified' } }],
        }
      : {}),
    // DocumentReference.status is the reference's own (current); the draft state is docStatus (FHIR R4 §3.1.3.5.2)
    status: 'current',
    docStatus: 'preliminary',
    type: { coding: [{ system: LOINC, code: '11506-3', display: 'Progress note' }] },
    category: [
      {
        coding: [
          {
            system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
            code: 'clinical-note',
            display: 'Clinical Note',
          },
        ],
      },
    ],
    ...(encounter.subject ? { subject: encounter.subject } : {}),
    date: now,
    author: [{ reference: BOT_DEVICE, display: 'Tributary notes bot' }],
    description:
      draft.author.kind === 'llm'
        ? `Draft progress note written by ${draft.author.model}; to be reviewed by a clinician`
        : 'Draft progress note from the offline template (not AI-written); to be reviewed by a clinician',
    content: [
      {
        attachment: {
          contentType: 'text/markdown; charset=utf-8',
          language: 'en',
          data: data.toString('base64'),
          size: data.length,
          hash: createHash('sha1').update(data).digest('base64'),
          title: 'Draft progress note',
          creation: now,
        },
      },
    ],
    context: {
      encounter: [{ reference: `Encounter/${encounter.id}` }],
      ...(encounter.period ? { period: encounter.period } : {}),
    },
  };
}

function provenanceOf(doc: DocumentReference, draft: FinishedDraft, actor: string | undefined): Provenance {
  const writer: ProvenanceAgent =
    draft.author.kind === 'llm'
      ? {
          type: participant('author', 'Author'),
          who: {
            identifier: { system: MODEL_SYSTEM, value: draft.author.model },
            display: `Language model ${draft.author.model} at ${new URL(draft.author.baseUrl).host}`,
          },
        }
      : { type: participant('author', 'Author'), who: { display: 'Tributary offline note template (not AI)' } };
  return {
    resourceType: 'Provenance',
    target: [{ reference: `DocumentReference/${doc.id}/_history/${doc.meta?.versionId}` }],
    recorded: new Date().toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }] },
    agent: [
      { type: participant('assembler', 'Assembler'), who: { reference: BOT_DEVICE } },
      writer,
      ...(actor ? [{ type: participant('enterer', 'Enterer'), who: { reference: actor } }] : []),
    ],
    entity: inputResources(draft.inputs).map((r) => ({
      role: 'source' as const,
      what: { reference: `${r.resourceType}/${r.id}${r.meta?.versionId ? `/_history/${r.meta.versionId}` : ''}` },
    })),
  };
}

function participant(code: string, display: string) {
  return { coding: [{ system: PARTICIPANT_TYPE, code, display }] };
}
