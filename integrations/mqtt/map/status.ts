import type { Device, DeviceProperty } from '@medplum/fhirtypes';
import { RejectedPayload } from './observation.ts';
import { compile } from './schema.ts';

const validate = compile({
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    msgId: { type: 'string', maxLength: 128 },
    sentAt: { type: 'string', maxLength: 64 },
    status: { enum: ['active', 'inactive'] },
    battery: { type: 'number', minimum: 0, maximum: 100 },
    firmware: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f]*$' },
  },
});

const BATTERY = 'battery-charge';

/**
 * The Device after a status message `{status?: "active"|"inactive", battery?: 0–100 (%), firmware?: string}`:
 * `Device.status`, a `firmware` version and a battery-charge property. Throws RejectedPayload when invalid.
 */
export function readStatus(body: unknown, device: Device): Device {
  const errors = validate(body);
  if (errors.length) throw new RejectedPayload(errors.map((e) => `status: ${e}`));
  const s = body as { status?: 'active' | 'inactive'; battery?: number; firmware?: string };
  const next: Device = { ...device };
  delete next.meta;
  if (s.status) next.status = s.status;
  if (s.firmware !== undefined)
    next.version = [
      ...(device.version ?? []).filter((v) => v.type?.text !== 'firmware'),
      { type: { text: 'firmware' }, value: s.firmware },
    ];
  if (s.battery !== undefined) {
    const battery: DeviceProperty = {
      type: { text: BATTERY },
      valueQuantity: [{ value: s.battery, unit: '%', system: 'http://unitsofmeasure.org', code: '%' }],
    };
    next.property = [...(device.property ?? []).filter((p) => p.type?.text !== BATTERY), battery];
  }
  return next;
}
