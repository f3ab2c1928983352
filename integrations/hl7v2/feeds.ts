import type { Bundle } from '@medplum/fhirtypes';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { V2Message } from './parse/message.ts';

/** When a feed's messages are acknowledged AA: once stored (`commit`, the usual engine behaviour) or once mapped. */
export type AckTiming = 'commit' | 'mapped';

/** A custom mapping hook: may change the transaction a message maps to (e.g. from its Z-segments). */
export type FeedHook = (message: V2Message, bundle: Bundle) => void | Promise<void>;

/**
 * One feed: the messages of one sending application and facility (`*` or absent: any), as the operator configures it.
 */
export interface Feed {
  /** MSH-3.1 it applies to; absent or `*`: any. */
  application?: string;
  /** MSH-4.1 it applies to; absent or `*`: any. */
  facility?: string;
  /** Identifier system per assigning authority (CX-4.1, EI-2): `{ "HOSP": "urn:oid:1.2.3" }`. */
  identifierSystems?: Record<string, string>;
  /** Time zone of its times without an offset (IANA name); default: the door's. */
  timeZone?: string;
  ack?: AckTiming;
  /** Message types it accepts (`ADT^A01`, `ORU^*`, `*`); default: every type the door maps. */
  accept?: string[];
  /** Runs after the standard mapping, before the transaction is written (Z-segments, local conventions). */
  hook?: FeedHook;
}

/** A feed with its defaults filled in. */
export interface ResolvedFeed extends Feed {
  /** `application|facility` as configured, for metrics and the inbox endpoint. */
  key: string;
  timeZone: string;
  ack: AckTiming;
  identifierSystems: Record<string, string>;
}

/** The feeds of a server: the first that matches a message's MSH-3/MSH-4 applies; a default catches the rest. */
export class Feeds {
  private readonly feeds: ResolvedFeed[];

  constructor(feeds: Feed[], defaults: { timeZone: string }) {
    const all = [...feeds, { application: '*', facility: '*' }];
    this.feeds = all.map((f) => ({
      ...f,
      key: `${f.application ?? '*'}|${f.facility ?? '*'}`,
      timeZone: f.timeZone ?? defaults.timeZone,
      ack: f.ack ?? 'commit',
      identifierSystems: f.identifierSystems ?? {},
    }));
  }

  /** The feed of a sending application and facility. */
  match(application: string, facility: string): ResolvedFeed {
    const fits = (pattern: string | undefined, value: string) => !pattern || pattern === '*' || pattern === value;
    return this.feeds.find((f) => fits(f.application, application) && fits(f.facility, facility))!;
  }

  /** Whether a feed takes a message type (`ADT^A01`); `mapped` are the types the door can map. */
  static accepts(feed: ResolvedFeed, type: string, mapped: (type: string) => boolean): boolean {
    if (!feed.accept) return mapped(type);
    const code = type.split('^')[0];
    return feed.accept.some((a) => a === '*' || a === type || a === `${code}^*` || a === code);
  }
}

/**
 * Loads the feeds file: JSON (an array of feeds) or a module whose default export is one (hooks need a module).
 * No file: the default feed alone.
 */
export async function loadFeeds(file: string | undefined, timeZone: string): Promise<Feeds> {
  if (!file) return new Feeds([], { timeZone });
  const list: unknown = file.endsWith('.json')
    ? JSON.parse(await readFile(file, 'utf8'))
    : ((await import(pathToFileURL(file).href)) as { default: unknown }).default;
  if (!Array.isArray(list)) throw new Error(`${file} must hold an array of feeds`);
  return new Feeds(list as Feed[], { timeZone });
}
