import type { Door, DoorStatus } from '../server/core/door.ts';
import type { FhirRouter } from '../server/core/router.ts';
import { addTerminologyOperations } from './register.ts';

/**
 * The terminology service as a module of the server: registers `$lookup`, `$validate-code`, `$subsumes`, `$expand`
 * and `$translate` (type and instance level, declared read-like). The store and search use it in-process.
 */
export function terminologyModule(): Door<{ router: FhirRouter }> {
  let status: DoorStatus = { name: 'terminology', state: 'starting' };
  return {
    name: 'terminology',
    async start(host) {
      addTerminologyOperations(host.router);
      status = { name: 'terminology', state: 'up' };
    },
    async stop() {
      status = { name: 'terminology', state: 'down' };
    },
    status: () => status,
  };
}
