import type { Bundle, HumanName, Patient, Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { newResourceId } from '../server/store/ids.ts';

/**
 * Synthesizes patients from Synthea's shapes: each clone of a Synthea patient bundle gets a fresh UUID for every UUID
 * in it (resource ids and the identifiers Synthea makes of UUIDs), with every `urn:uuid:` reference rewritten to
 * the clone's `Type/id`. So that clones do not multiply one patient (which would make a name or birth-date search
 * find ten times as many patients at ten times the size), each clone also gets its own family name (the template's
 * plus a three-letter suffix) and its whole timeline moved back by up to two years. Realistic value distributions,
 * unbounded volume.
 */
export interface SyntheaTemplate {
  /** The bundle as JSON text, for fast cloning by id replacement. */
  text: string;
  /** Old ids of its resources, with their types. */
  ids: [id: string, type: string][];
}

/** Loads the Synthea patient bundles (not the hospital/practitioner ones) from `dir`. */
export function loadTemplates(dir: string, limit = Infinity): SyntheaTemplate[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json.gz') && f.includes('_'))
    .sort()
    .slice(0, limit);
  return files.map((f) => {
    const bundle = JSON.parse(gunzipSync(readFileSync(join(dir, f))).toString('utf8')) as Bundle;
    const ids = (bundle.entry ?? []).map(
      (e) => [e.resource?.id as string, e.resource?.resourceType as string] as [string, string],
    );
    return { text: JSON.stringify(bundle), ids };
  });
}

const DAY_MS = 86_400_000;
/** Clones' timelines move back by 0 to this many days. */
const MAX_SHIFT_DAYS = 730;

/**
 * A fresh copy of a template's resources with new ids and resolved references; `serial` (0, 1, 2, …: the clone's
 * number) picks its family-name suffix and its date shift, so the data set is the same on every run.
 */
export function cloneTemplate(template: SyntheaTemplate, serial: number): Resource[] {
  const fresh = new Map<string, string>();
  const types = new Map<string, string>();
  for (const [oldId, type] of template.ids) {
    const id = newResourceId(); // as the server assigns them
    fresh.set(oldId, id);
    types.set(id, type);
  }
  // Every UUID, not only resource ids: Synthea's patient identifier is a UUID of its own.
  const renew = (m: string) => {
    let id = fresh.get(m);
    if (!id) fresh.set(m, (id = randomUUID()));
    return id;
  };
  let text = template.text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, renew);
  text = text.replace(/"urn:uuid:([0-9a-f-]{36})"/g, (whole, id: string) => {
    const type = types.get(id);
    return type ? `"${type}/${id}"` : whole;
  });
  const shift = ((serial * 7919) % MAX_SHIFT_DAYS) * DAY_MS;
  text = text.replace(/"(\d{4})-(\d{2})-(\d{2})/g, (_m, y: string, mo: string, d: string) => {
    return `"${new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)) - shift).toISOString().slice(0, 10)}`;
  });
  const resources = (JSON.parse(text) as Bundle).entry?.map((e) => e.resource as Resource) ?? [];
  const suffix = nameSuffix(serial);
  for (const r of resources) {
    if (r.resourceType !== 'Patient') continue;
    for (const name of (r as Patient).name ?? ([] as HumanName[])) if (name.family) name.family += suffix;
  }
  return resources;
}

/** Three lower-case letters from a serial number (`aaa`, `aab`, …; 17,576 before they repeat). */
function nameSuffix(serial: number): string {
  let s = '';
  for (let n = serial, i = 0; i < 3; i++, n = Math.floor(n / 26)) s = String.fromCharCode(97 + (n % 26)) + s;
  return s;
}
