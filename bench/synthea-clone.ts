import type { Bundle, Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/**
 * Synthesizes patients from Synthea's shapes: each clone of a Synthea patient bundle gets fresh ids for every
 * resource (and so fresh identifiers, which Synthea derives from them), with every `urn:uuid:` reference rewritten to
 * the clone's `Type/id`. Realistic value distributions, unbounded volume.
 */
export interface SyntheaTemplate {
  /** The bundle as JSON text, for fast cloning by id replacement. */
  text: string;
  /** Old ids of its resources, with their types. */
  ids: [id: string, type: string][];
}

/** Loads the Synthea patient bundles (not the hospital/practitioner ones) from `dir`. */
export function loadTemplates(dir: string, limit = Infinity): SyntheaTemplate[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json.gz') && f.includes('_')).sort().slice(0, limit);
  return files.map((f) => {
    const bundle = JSON.parse(gunzipSync(readFileSync(join(dir, f))).toString('utf8')) as Bundle;
    const ids = (bundle.entry ?? []).map((e) => [e.resource?.id as string, e.resource?.resourceType as string] as [string, string]);
    return { text: JSON.stringify(bundle), ids };
  });
}

/** A fresh copy of a template's resources with new ids and resolved references. */
export function cloneTemplate(template: SyntheaTemplate): Resource[] {
  const fresh = new Map<string, string>();
  const types = new Map<string, string>();
  for (const [oldId, type] of template.ids) {
    const id = randomUUID();
    fresh.set(oldId, id);
    types.set(id, type);
  }
  let text = template.text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (m) => fresh.get(m) ?? m);
  text = text.replace(/"urn:uuid:([0-9a-f-]{36})"/g, (whole, id: string) => {
    const type = types.get(id);
    return type ? `"${type}/${id}"` : whole;
  });
  const bundle = JSON.parse(text) as Bundle;
  return (bundle.entry ?? []).map((e) => e.resource as Resource);
}
