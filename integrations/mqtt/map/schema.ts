import { Ajv, type ValidateFunction } from 'ajv';

/** An instant with its time zone, as devices must send it (FHIR dateTime to the second or finer). */
export const INSTANT = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$';

const ajv = new Ajv({ allErrors: true, strict: true });

/** Compiles a JSON schema once (ajv), keeping its errors as readable lines. */
export function compile(schema: object): (value: unknown) => string[] {
  const validate: ValidateFunction = ajv.compile(schema);
  return (value) =>
    validate(value)
      ? []
      : (validate.errors ?? []).slice(0, 10).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
}

const INSTANT_RE = new RegExp(INSTANT);

/** Whether a string is a real instant (the pattern says the form, this the calendar: no 2026-02-31, no 25:00). */
export function isInstant(value: string): boolean {
  if (!INSTANT_RE.test(value) || Number.isNaN(Date.parse(value))) return false;
  const [y, m, d, h, min, s] = value.match(/\d+/g)!.map(Number);
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return m >= 1 && m <= 12 && d >= 1 && d <= days && h < 24 && min < 60 && s < 60;
}
