import type { Bundle, Observation } from '@medplum/fhirtypes';
import { READING_SYSTEM, RejectedPayload, type MappedObservation } from './observation.ts';

/** Whether a parsed body is FHIR (an Observation or a Bundle), which the `…/obs` topic also accepts. */
export function isFhir(body: unknown): body is Observation | Bundle {
  return typeof body === 'object' && body !== null && 'resourceType' in body;
}

const MAX_ENTRIES = 500;

/**
 * The Observations of a FHIR payload: one Observation, or a Bundle (transaction, batch or collection) holding only
 * Observations. Each gets `device` = the publishing Device, the reading identifier `{deviceId}-{msgId}-{index}` and
 * the associated patient as subject; a subject naming anyone else, any other resource type, `id`s or references to
 * other devices are rejected (a device writes only its own readings, nothing else).
 */
export function fhirObservations(
  body: Observation | Bundle,
  ctx: { deviceId: string; msgId: string; patient: string },
): MappedObservation[] {
  let resources: unknown[];
  if (body.resourceType === 'Observation') resources = [body];
  else if (body.resourceType === 'Bundle') {
    if (!['transaction', 'batch', 'collection'].includes(body.type ?? ''))
      throw new RejectedPayload([`Bundle type "${body.type}" is not accepted (transaction, batch or collection)`]);
    const entries = body.entry ?? [];
    if (entries.length === 0 || entries.length > MAX_ENTRIES)
      throw new RejectedPayload([`A Bundle must hold 1 to ${MAX_ENTRIES} Observations`]);
    resources = entries.map((e) => e.resource);
  } else
    throw new RejectedPayload([
      `${(body as { resourceType: string }).resourceType} is not accepted: publish Observations`,
    ]);
  const errors: string[] = [];
  const out = resources.map((r, i): MappedObservation | undefined => {
    const where = body.resourceType === 'Bundle' ? `Bundle.entry[${i}].resource` : 'Observation';
    const obs = r as Observation | undefined;
    if (obs?.resourceType !== 'Observation') return void errors.push(`${where}: only Observations are accepted`);
    const subject = obs.subject?.reference;
    if (subject !== undefined && subject !== ctx.patient)
      return void errors.push(`${where}: subject ${subject} is not the patient this device is associated with`);
    const device = obs.device?.reference;
    if (device !== undefined && device !== `Device/${ctx.deviceId}`)
      return void errors.push(`${where}: device ${device} is not the publishing device`);
    const value = `${ctx.deviceId}-${ctx.msgId}-${i}`;
    const { id: _id, meta: _meta, ...rest } = obs;
    return {
      ifNoneExist: `identifier=${encodeURIComponent(`${READING_SYSTEM}|${value}`)}`,
      resource: {
        ...rest,
        identifier: [...(obs.identifier ?? []), { system: READING_SYSTEM, value }],
        subject: { reference: ctx.patient },
        device: { reference: `Device/${ctx.deviceId}` },
      },
    };
  });
  if (errors.length) throw new RejectedPayload(errors);
  return out as MappedObservation[];
}
