import type { Coding, Observation } from '@medplum/fhirtypes';
import type { BotHandler, BotRegistration } from './types.ts';

/** The tag this bot puts on out-of-range Observations (also what keeps it from triggering itself again). */
export const OUT_OF_RANGE_TAG: Coding = {
  system: 'https://tributary.dev/fhir/CodeSystem/bot-flags',
  code: 'out-of-range',
  display: 'Outside reference range',
};
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

export const registration: BotRegistration = {
  name: 'flag-out-of-range',
  description:
    'Flags an Observation whose valueQuantity lies outside its reference range: tag out-of-range, interpretation H or L.',
  triggers: [`Observation?_tag:not=${OUT_OF_RANGE_TAG.system}|${OUT_OF_RANGE_TAG.code}`],
  scopes: 'system/Observation.rus',
  timeoutMs: 10_000,
  maxAttempts: 5,
};

/**
 * The example bot: compares `valueQuantity.value` with the first `referenceRange` that has a bound in the same
 * unit; outside it, the Observation gets the out-of-range tag and an H/L interpretation. Observations it flagged no
 * longer match its trigger, so its own update does not run it again.
 */
export const handler: BotHandler<Observation> = async ({ resource, fhir, log }) => {
  const value = resource?.valueQuantity?.value;
  if (!resource || value === undefined) return { flagged: false, reason: 'no quantity value' };
  const unit = resource.valueQuantity?.code ?? resource.valueQuantity?.unit;
  const range = resource.referenceRange?.find(
    (r) => (r.low ?? r.high) && sameUnit(unit, r.low?.code ?? r.low?.unit ?? r.high?.code ?? r.high?.unit),
  );
  if (!range) return { flagged: false, reason: 'no reference range in the value’s unit' };
  const code =
    range.low?.value !== undefined && value < range.low.value
      ? 'L'
      : range.high?.value !== undefined && value > range.high.value
        ? 'H'
        : undefined;
  if (!code) return { flagged: false, reason: 'within range' };
  log(`Observation/${resource.id}: ${value} ${unit ?? ''} is ${code === 'H' ? 'above' : 'below'} its reference range`);
  await fhir.update<Observation>({
    ...resource,
    meta: { ...resource.meta, tag: [...(resource.meta?.tag ?? []), OUT_OF_RANGE_TAG] },
    interpretation: [{ coding: [{ system: INTERPRETATION, code, display: code === 'H' ? 'High' : 'Low' }] }],
  });
  return { flagged: true, interpretation: code };
};

function sameUnit(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}
