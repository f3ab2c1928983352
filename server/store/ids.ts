import { v7 } from 'uuid';

/**
 * A new server-assigned resource id: a UUID version 7 (RFC 9562), whose leading bits are the creation time. New ids
 * of a type therefore sort together at the end of the `(resource_type, id)` keys instead of landing on a random page
 * of a large B-tree; with random (v4) ids every create touched a page that had long left shared buffers once the
 * indexes outgrew them (bench/search.ts ingest trend at 1M resources). The creation time it reveals is no more than
 * version 1's `meta.lastUpdated` already tells.
 */
export function newResourceId(): string {
  return v7();
}
