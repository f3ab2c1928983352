import type { BundleFile, InputFile, NdjsonChunk, NdjsonEntry } from './readers.ts';
import { SendError, type BundleReply, type BundleSender } from './sender.ts';
import type { Failure } from './state.ts';
import { outcomeReason } from './summary.ts';

/**
 * What became of one unit of work (a Bundle file or a chunk of NDJSON lines). Without `failure` the unit is
 * finished: its resources are written, except those in `refused` (refused for good). With `failure` nothing of it
 * was written, and `then` says what to do: try it again once the rest is in (`later`: the server refused the data,
 * perhaps because it refers to resources not loaded yet), in the next run (`next-run`: server trouble or limits),
 * or stop the run (`stop`: unreachable server, credentials refused).
 */
export interface UnitResult {
  resources: number;
  refused: Failure[];
  failure?: Failure;
  then?: 'later' | 'next-run' | 'stop';
}

type Answer = { response?: { status?: string; outcome?: unknown } };

function isOk(status: number): boolean {
  return status >= 200 && status < 300;
}

/** The unit failed as a whole: how to go on depends on the status. */
function failed(where: string, reply: BundleReply, refused: Failure[] = []): UnitResult {
  const { status } = reply;
  const then =
    status === 401 || status === 403
      ? 'stop'
      : status >= 500 || [404, 408, 413, 429].includes(status)
        ? 'next-run'
        : 'later';
  return { resources: 0, refused, failure: { where, status, reason: outcomeReason(reply.body) }, then };
}

async function post(sender: BundleSender, where: string, text: string): Promise<BundleReply | UnitResult> {
  try {
    return await sender.post(text);
  } catch (err) {
    if (!(err instanceof SendError)) throw err;
    return { resources: 0, refused: [], failure: { where, reason: err.message }, then: 'stop' };
  }
}

/**
 * Sends a Bundle file as it is. A transaction goes in whole or not at all; a batch is finished whatever its
 * entries answered (sending it again would repeat the entries that worked), each refused entry reported.
 */
export async function sendBundle(sender: BundleSender, file: InputFile, bundle: BundleFile): Promise<UnitResult> {
  const reply = await post(sender, file.path, bundle.text);
  if (!('status' in reply)) return reply;
  if (reply.status !== 200) return failed(file.path, reply);
  if (bundle.type === 'transaction') return { resources: bundle.entries, refused: [] };
  const answers = (reply.body as { entry?: Answer[] })?.entry ?? [];
  const result: UnitResult = { resources: 0, refused: [] };
  answers.forEach((a, i) => {
    const status = parseInt(a.response?.status ?? '', 10);
    if (isOk(status)) result.resources++;
    else result.refused.push({ where: `${file.path} entry[${i}]`, status, reason: outcomeReason(a.response?.outcome) });
  });
  return result;
}

/** A transaction Bundle of `PUT Type/id` entries built from NDJSON lines, their text inserted as is. */
export function putBundle(entries: NdjsonEntry[]): string {
  const items = entries.map(
    (e) => `{"resource":${e.text},"request":{"method":"PUT","url":${JSON.stringify(`${e.type}/${e.id}`)}}}`,
  );
  return `{"resourceType":"Bundle","type":"transaction","entry":[${items.join(',')}]}`;
}

/** The entry a refused transaction's OperationOutcome blames (`Bundle.entry[n]` in an issue's expression). */
function blamedEntry(body: unknown): number | undefined {
  for (const issue of (body as { issue?: { expression?: string[] }[] })?.issue ?? []) {
    for (const e of issue.expression ?? []) {
      const m = /^Bundle\.entry\[(\d+)\]$/.exec(e);
      if (m) return Number(m[1]);
    }
  }
  return undefined;
}

/**
 * Sends NDJSON lines as one transaction of PUTs. When the server refuses it because of one entry, that resource is
 * reported and the rest is sent again without it (still as a transaction, so conditional references keep being
 * resolved), until the rest goes in or the refusal is about the chunk as a whole.
 */
export async function sendChunk(sender: BundleSender, file: InputFile, chunk: NdjsonChunk): Promise<UnitResult> {
  let entries = chunk.entries;
  const refused: Failure[] = [];
  while (entries.length > 0) {
    const where = `${file.path}:${entries[0].line}-${entries[entries.length - 1].line}`;
    const reply = await post(sender, where, putBundle(entries));
    if (!('status' in reply)) return reply;
    if (reply.status === 200) return { resources: entries.length, refused };
    const blamed = blamedEntry(reply.body);
    const result = failed(where, reply, refused);
    if (result.then !== 'later' || blamed === undefined || !entries[blamed]) return result;
    refused.push({
      where: `${file.path}:${entries[blamed].line}`,
      status: reply.status,
      reason: outcomeReason(reply.body),
    });
    entries = entries.filter((_, i) => i !== blamed);
  }
  return { resources: 0, refused };
}
