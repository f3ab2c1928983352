import { listEnv } from '../../server/env.ts';
import type { DoorStatus } from '../../server/core/door.ts';
import type { TributaryDoor } from '../../server/host/host.ts';
import { loadNotesConfig } from './config.ts';
import { draftNoteHandler } from './operation.ts';

/** The OperationDefinition of `$draft-note` (bots/notes/README.md describes it). */
export const DRAFT_NOTE_DEFINITION = 'https://tributary.dev/fhir/OperationDefinition/Encounter-draft-note';

/**
 * The AI-drafted notes module: `POST Encounter/[id]/$draft-note` (access rule `read`: the caller must be able to read
 * the encounter, and the note is drafted from what it may read), when `BOTS` names `notes` (or `all`); the `notes`
 * bot (bots/notes/bot.ts) drafts through it for requested Tasks. Without `LLM_BASE_URL`/`LLM_MODEL` drafts come
 * from the offline generator and no data leaves the server.
 */
export function notesModule(): TributaryDoor {
  let status: DoorStatus = { name: 'notes', state: 'starting' };
  return {
    name: 'notes',
    async start(host) {
      const bots = listEnv(host.env, 'BOTS');
      if (!bots.includes('notes') && !bots.includes('all')) {
        status = { name: 'notes', state: 'disabled', reason: 'BOTS does not name notes' };
        return;
      }
      const config = loadNotesConfig(host.env);
      const logger = host.logger.child({ module: 'notes' });
      host.router.add(
        'POST',
        'Encounter/:id/$draft-note',
        'draft-note',
        draftNoteHandler({ router: host.router, config, logger }),
        'read',
      );
      host.router.capabilities.defineOperation('draft-note', DRAFT_NOTE_DEFINITION);
      logger.info(
        { provider: config.llm ? 'llm' : 'offline', unverifiedValues: config.unverifiedValues },
        'notes ready',
      );
      status = { name: 'notes', state: 'up' };
    },
    async stop() {
      status = { ...status, state: status.state === 'up' ? 'down' : status.state };
    },
    status: () => status,
  };
}
