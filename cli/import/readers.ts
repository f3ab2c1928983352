import { createReadStream, readdirSync, readFileSync, statSync, type ReadStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip, gunzipSync } from 'node:zlib';

/** An input file: a Bundle (`.json`, `.json.gz`) or NDJSON (`.ndjson`, `.ndjson.gz`). */
export interface InputFile {
  /** Absolute path. */
  path: string;
  kind: 'bundle' | 'ndjson';
  size: number;
  mtimeMs: number;
}

/** Input that cannot be imported (unreadable, not JSON, not a transaction or batch Bundle). */
export class BadInput extends Error {}

function kindOf(path: string): InputFile['kind'] | undefined {
  if (/\.json(\.gz)?$/i.test(path)) return 'bundle';
  if (/\.ndjson(\.gz)?$/i.test(path)) return 'ndjson';
  return undefined;
}

function inputFile(path: string, kind: InputFile['kind']): InputFile {
  const { size, mtimeMs } = statSync(path);
  return { path, kind, size, mtimeMs };
}

/**
 * The files to import, in a stable order: each named file, and the Bundle and NDJSON files under each named
 * directory (recursively, sorted by path; other files are left alone). A named file of another kind is a BadInput.
 */
export function listInputFiles(paths: string[]): InputFile[] {
  const seen = new Set<string>();
  const files: InputFile[] = [];
  const add = (file: InputFile) => {
    if (!seen.has(file.path)) files.push(file);
    seen.add(file.path);
  };
  for (const given of paths) {
    const path = resolve(given);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new BadInput(`${given}: no such file or directory`);
    }
    if (!isDir) {
      const kind = kindOf(path);
      if (!kind) throw new BadInput(`${given}: not a .json, .json.gz, .ndjson or .ndjson.gz file`);
      add(inputFile(path, kind));
      continue;
    }
    const found = readdirSync(path, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile() && kindOf(d.name))
      .map((d) => join(d.parentPath, d.name))
      .sort();
    for (const f of found) add(inputFile(f, kindOf(f) as InputFile['kind']));
  }
  return files;
}

/** A Bundle file's text, exactly as written (decimals keep their digits), and what it holds. */
export interface BundleFile {
  text: string;
  type: 'transaction' | 'batch';
  entries: number;
}

/** Reads a Bundle file (gunzipping `.gz`); a BadInput unless it is a transaction or batch Bundle. */
export function readBundleFile(path: string): BundleFile {
  let text: string;
  try {
    const raw = readFileSync(path);
    text = (path.toLowerCase().endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    throw new BadInput(`unreadable: ${(err as Error).message}`);
  }
  let bundle: { resourceType?: unknown; type?: unknown; entry?: unknown };
  try {
    bundle = JSON.parse(text);
  } catch (err) {
    throw new BadInput(`not JSON: ${(err as Error).message}`);
  }
  if (bundle?.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch')) {
    throw new BadInput(
      `not a transaction or batch Bundle (resourceType ${String(bundle?.resourceType)}, type ${String(bundle?.type)})`,
    );
  }
  const entries = Array.isArray(bundle.entry) ? bundle.entry.length : 0;
  return { text, type: bundle.type, entries };
}

/** One NDJSON line that holds a resource to PUT. */
export interface NdjsonEntry {
  /** 1-based line number. */
  line: number;
  type: string;
  id: string;
  /** The line's JSON text, sent as is. */
  text: string;
}

/** A run of consecutive NDJSON lines: the resources to send and the lines that cannot be sent. */
export interface NdjsonChunk {
  /** Lines before this chunk (0-based index of its first line). */
  start: number;
  /** Lines up to the end of this chunk. */
  end: number;
  entries: NdjsonEntry[];
  bad: { line: number; reason: string }[];
  /** Bytes of the file (as stored, compressed or not) read for this chunk. */
  bytes: number;
}

const TYPE = /^[A-Z][A-Za-z]+$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function parseLine(text: string): { type: string; id: string } | string {
  let value: { resourceType?: unknown; id?: unknown };
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `invalid JSON: ${(err as Error).message}`;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  if (typeof value.resourceType !== 'string' || !TYPE.test(value.resourceType)) return 'no resourceType';
  if (typeof value.id !== 'string' || !ID.test(value.id))
    return `${value.resourceType} without a valid id (needed for PUT ${value.resourceType}/[id])`;
  return { type: value.resourceType, id: value.id };
}

/**
 * Reads an NDJSON file (gunzipping `.gz`) from line `from` on, in chunks of up to `batchSize` resources and about
 * `maxBytes` of text. Blank lines are skipped; lines that are not a resource with a type and an id are reported in
 * `bad`. The last chunk (possibly empty) ends at the end of the file. A file that cannot be read or decompressed
 * throws a BadInput (after yielding the chunks before the damage).
 */
export async function* ndjsonChunks(
  path: string,
  from: number,
  batchSize: number,
  maxBytes = 8 << 20,
): AsyncGenerator<NdjsonChunk> {
  const raw: ReadStream = createReadStream(path);
  const input = path.toLowerCase().endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (err) => input.destroy(err));
  const lines = createInterface({ input, crlfDelay: Infinity });
  let count = 0;
  let readBytes = 0;
  let chunk: NdjsonChunk = { start: from, end: from, entries: [], bad: [], bytes: 0 };
  let textBytes = 0;
  const take = (): NdjsonChunk => {
    const done = { ...chunk, end: count, bytes: raw.bytesRead - readBytes };
    readBytes = raw.bytesRead;
    chunk = { start: count, end: count, entries: [], bad: [], bytes: 0 };
    textBytes = 0;
    return done;
  };
  try {
    for await (const rawLine of lines) {
      count++;
      if (count <= from) continue;
      const text = (count === 1 ? rawLine.replace(/^\uFEFF/, '') : rawLine).trim();
      if (text === '') continue;
      const parsed = parseLine(text);
      if (typeof parsed === 'string') chunk.bad.push({ line: count, reason: parsed });
      else {
        chunk.entries.push({ line: count, ...parsed, text });
        textBytes += text.length;
      }
      if (chunk.entries.length >= batchSize || textBytes >= maxBytes) yield take();
    }
    count = Math.max(count, from);
    yield take();
  } catch (err) {
    count = Math.max(count, from);
    yield take();
    throw err instanceof BadInput ? err : new BadInput(`unreadable after line ${count}: ${(err as Error).message}`);
  } finally {
    raw.destroy();
  }
}
