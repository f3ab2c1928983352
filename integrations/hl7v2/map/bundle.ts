import type { Bundle, BundleEntry, Identifier, Resource } from '@medplum/fhirtypes';
import { createHash } from 'node:crypto';

/** How an entry is written: conditionally on a business identifier, or by a fixed id (per message). */
export type WriteRule = { identifier: Identifier } | { id: string };

/** A deterministic id (≤ 64 characters) for what one message writes once: its MessageHeader, Binary, Provenance. */
export function stableId(...parts: string[]): string {
  return `v2-${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40)}`;
}

/**
 * Builds the one transaction a message maps to. Every entry is a conditional update on a business identifier
 * (`PUT Patient?identifier=system|value`: created the first time, updated after) or a PUT by a fixed id, so a message
 * mapped again creates nothing new. Adding the same identifier twice merges into the first entry (one Patient per
 * message, however many segments name it). References between entries use `urn:uuid:` placeholders.
 */
export class TransactionBuilder {
  private readonly entries: BundleEntry[] = [];
  private readonly byKey = new Map<string, BundleEntry>();
  private counter = 0;

  constructor(private readonly seed: string) {}

  /** Adds (or merges into) an entry; returns its placeholder reference. */
  add<T extends Resource>(resource: T, rule: WriteRule): string {
    const key =
      'id' in rule ? `${resource.resourceType}/${rule.id}` : `${resource.resourceType}?${searchOf(rule.identifier)}`;
    const existing = this.byKey.get(key);
    if (existing) {
      existing.resource = merge(existing.resource as Resource, resource);
      return existing.fullUrl!;
    }
    const fullUrl = `urn:uuid:${uuidFrom(this.seed, String(this.counter++))}`;
    const url = 'id' in rule ? key : `${resource.resourceType}?identifier=${searchOf(rule.identifier)}`;
    const body = 'id' in rule ? { ...resource, id: rule.id } : resource;
    const entry: BundleEntry = { fullUrl, resource: body, request: { method: 'PUT', url } };
    this.entries.push(entry);
    this.byKey.set(key, entry);
    return fullUrl;
  }

  /** The entry added under a placeholder. */
  resource<T extends Resource>(fullUrl: string): T | undefined {
    return this.entries.find((e) => e.fullUrl === fullUrl)?.resource as T | undefined;
  }

  /** Placeholders of every entry so far (the Provenance's targets). */
  get fullUrls(): string[] {
    return this.entries.map((e) => e.fullUrl!);
  }

  build(): Bundle {
    return { resourceType: 'Bundle', type: 'transaction', entry: this.entries };
  }
}

/** `system|value`, escaped for a search (`,` `$` `|` `\` in the value). */
function searchOf(identifier: Identifier): string {
  const esc = (s: string) => s.replace(/[\\,$|]/g, (c) => `\\${c}`);
  return encodeURIComponent(`${identifier.system ? `${esc(identifier.system)}|` : ''}${esc(identifier.value ?? '')}`);
}

/** Fills what `a` lacks from `b` (first segment wins; arrays are kept from the first that has them). */
function merge<T extends Resource>(a: T, b: T): T {
  const out = { ...a } as Record<string, unknown>;
  for (const [k, v] of Object.entries(b)) if (out[k] === undefined) out[k] = v;
  return out as T;
}

function uuidFrom(seed: string, n: string): string {
  const h = createHash('sha256').update(`${seed}\u0000${n}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
