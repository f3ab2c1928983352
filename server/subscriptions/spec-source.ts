import type { Subscription } from '@medplum/fhirtypes';
import type pg from 'pg';
import type { Repository } from '../core/repository.ts';
import type { ReadSnapshot } from './subscription-spec.ts';
import { isClassicCriteria, readSubscription, type SubscriptionSpec, type Trigger } from './subscription-spec.ts';
import { loadTopics } from './topics.ts';

/** How long topic definitions are reused before they are read again. */
const TOPIC_TTL_MS = 5000;

/**
 * The current delivery form of stored Subscriptions, for nodes that deliver (any node) rather than read the outbox:
 * each is read from the database (cached per version, so a busy subscription costs one primary-key lookup per
 * claim), topics from their Basic resources (cached briefly).
 */
export class SpecSource {
  /** Specs by id, valid while the version and the owner's access are those of `key`. */
  private readonly cache = new Map<string, { key: string; spec: SubscriptionSpec | undefined }>();
  private topics?: { at: number; map: Map<string, Trigger[]> };

  constructor(
    private readonly pool: pg.Pool,
    private readonly repo: Repository,
    private readonly knownBots: () => ReadonlySet<string>,
  ) {}

  /**
   * The specs of these Subscriptions (undefined for deleted or undeliverable ones), with what their owner may read
   * (`subscription_owner`, owner.ts).
   */
  async load(ids: string[]): Promise<Map<string, SubscriptionSpec | undefined>> {
    const out = new Map<string, SubscriptionSpec | undefined>(ids.map((id) => [id, undefined]));
    if (ids.length === 0) return out;
    const { rows } = await this.pool.query<{
      id: string;
      key: string;
      content: string | null;
      owner: ReadSnapshot | null;
    }>(
      `SELECT r.id, r.version_id || ':' || coalesce(md5(o.read_access::text), '') AS key, r.content,
         o.read_access AS owner
       FROM resource r LEFT JOIN subscription_owner o ON o.subscription_id = r.id
       WHERE r.resource_type = 'Subscription' AND r.id = ANY($1::text[]) AND NOT r.deleted`,
      [ids],
    );
    for (const row of rows) {
      const cached = this.cache.get(row.id);
      if (cached?.key === row.key) {
        out.set(row.id, cached.spec);
        continue;
      }
      const spec = await this.read(JSON.parse(row.content as string) as Subscription);
      if (spec && row.owner) spec.owner = row.owner;
      this.cache.set(row.id, { key: row.key, spec });
      out.set(row.id, spec);
    }
    return out;
  }

  /** Reads a Subscription into its spec, or undefined when it cannot be delivered. */
  async read(sub: Subscription): Promise<SubscriptionSpec | undefined> {
    let topics = await this.topicMap();
    // A topic written since the cache was filled (maybe on another node) is not missing: read the topics again.
    if (!isClassicCriteria(sub.criteria) && !topics.has(sub.criteria)) topics = await this.topicMap(true);
    try {
      return readSubscription(sub, (url) => topics.get(url), this.knownBots());
    } catch {
      return undefined;
    }
  }

  /** Forgets the cached topics (one was written). */
  topicsChanged(): void {
    this.topics = undefined;
    this.cache.clear();
  }

  private async topicMap(refresh = false): Promise<Map<string, Trigger[]>> {
    if (refresh || !this.topics || Date.now() - this.topics.at > TOPIC_TTL_MS)
      this.topics = { at: Date.now(), map: await loadTopics(this.repo) };
    return this.topics.map;
  }
}
