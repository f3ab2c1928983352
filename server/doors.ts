import { botsDoor } from '../bots/door.ts';
import { notesModule } from '../bots/notes/door.ts';
import { prescriptionValidationDoor } from '../bots/prescription-validation/door.ts';
import { hl7v2Door } from '../integrations/hl7v2/door.ts';
import { mqttDoor } from '../integrations/mqtt/door.ts';
import { terminologyModule } from '../terminology/door.ts';
import { schedulingModule } from './scheduling/door.ts';
import type { TributaryDoor } from './host/host.ts';

/**
 * The doors and modules a server starts once its core is up and its HTTP door listens, in this order (and stops in
 * reverse): what a door needs of another is started before it (the bots before the subscription worker that
 * delivers to them). A new door (integrations/hl7v2, integrations/mqtt, web/) adds its line here and touches nothing
 * else. The subscription worker and the job runner come from the core (server/app.ts) and follow these.
 */
export function builtInDoors(): TributaryDoor[] {
  return [
    terminologyModule(),
    schedulingModule(),
    botsDoor(),
    notesModule(),
    prescriptionValidationDoor(),
    hl7v2Door(),
    mqttDoor(),
  ];
}
