import type { Door, DoorStatus } from '../core/door.ts';
import type { FhirRouter } from '../core/router.ts';
import type { WriteChecks } from '../core/write-checks.ts';
import { bookHandler } from './book.ts';
import { appointmentCheck } from './conflicts.ts';
import { findHandler } from './find.ts';

/** What scheduling needs of the running server. */
export interface SchedulingHost {
  router: FhirRouter;
  writeChecks: WriteChecks;
  fhirBase: string;
}

/** The OperationDefinitions of `$find` and `$book` (server/scheduling/README.md describes them). */
export const FIND_DEFINITION = 'https://tributary.dev/fhir/OperationDefinition/Appointment-find';
export const BOOK_DEFINITION = 'https://tributary.dev/fhir/OperationDefinition/Appointment-book';

/**
 * Scheduling as a module of the server: the Appointment write check (no double booking, Slots freed on
 * cancellation) on every door's writes, `GET|POST Appointment/$find` (access `read`: the caller's search of
 * Appointments, and it sees only the Schedules and Slots it may read) and `POST Appointment/$book` (access `read`;
 * its writes are dispatched as the caller, so the guard judges the Appointment's create or update).
 */
export function schedulingModule(): Door<SchedulingHost> {
  let status: DoorStatus = { name: 'scheduling', state: 'starting' };
  return {
    name: 'scheduling',
    async start(host) {
      host.writeChecks.add('scheduling-conflicts', appointmentCheck(host.router, host.fhirBase), {
        types: ['Appointment'],
      });
      host.router.add('GET', 'Appointment/$find', 'find', findHandler(host.router), 'read');
      host.router.add('POST', 'Appointment/$book', 'book', bookHandler(host.router), 'read');
      host.router.capabilities.defineOperation('find', FIND_DEFINITION);
      host.router.capabilities.defineOperation('book', BOOK_DEFINITION);
      status = { name: 'scheduling', state: 'up' };
    },
    async stop() {
      status = { name: 'scheduling', state: 'down' };
    },
    status: () => status,
  };
}
