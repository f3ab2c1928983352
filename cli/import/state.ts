import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BadInput, type InputFile } from './readers.ts';

/** A failure worth reporting: where (file, file:line or file entry[n]), the HTTP status if there was one, why. */
export interface Failure {
  where: string;
  status?: number;
  reason: string;
}

/** What earlier runs finished of one file. The file is started over when its size or mtime changed. */
interface FileProgress {
  size: number;
  mtimeMs: number;
  /** NDJSON: lines finished from the start of the file. */
  lines: number;
  done: boolean;
  /** Failures that will not go away by sending the same data again (kept to report them on re-runs). */
  failures: Failure[];
}

interface StateFile {
  url: string;
  files: Record<string, FileProgress>;
}

/**
 * Path of the state file of an import command: `.import-state-<hash>.json` in the current directory, the hash
 * taken over the FHIR base URL and the absolute input paths, so the same command finds its own state again.
 */
export function statePath(url: string, paths: string[]): string {
  const key = JSON.stringify([url, ...paths.map((p) => resolve(p)).sort()]);
  return resolve(`.import-state-${createHash('sha256').update(key).digest('hex').slice(0, 12)}.json`);
}

/** The resumable progress of an import, saved (atomically) after every finished piece of work. */
export class ImportState {
  private constructor(
    readonly path: string,
    private readonly data: StateFile,
  ) {}

  /** Loads the state at `path` (or starts empty: no file, `fresh`, or a state made for another URL); BadInput if unreadable. */
  static load(path: string, url: string, fresh: boolean): ImportState {
    if (!fresh && existsSync(path)) {
      let data: StateFile;
      try {
        data = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
      } catch {
        throw new BadInput(`${path} is not a state file this import can read: delete it, or start over with --fresh`);
      }
      if (data.url === url && data.files) return new ImportState(path, data);
    }
    return new ImportState(path, { url, files: {} });
  }

  private progress(file: InputFile): FileProgress {
    const known = this.data.files[file.path];
    if (known && known.size === file.size && known.mtimeMs === file.mtimeMs) return known;
    const fresh: FileProgress = { size: file.size, mtimeMs: file.mtimeMs, lines: 0, done: false, failures: [] };
    this.data.files[file.path] = fresh;
    return fresh;
  }

  /** Whether an earlier run finished the file (unchanged since). */
  isDone(file: InputFile): boolean {
    return this.progress(file).done;
  }

  /** NDJSON lines finished by earlier runs. */
  linesDone(file: InputFile): number {
    return this.progress(file).lines;
  }

  /** Failures an earlier run recorded for a file it finished. */
  recordedFailures(file: InputFile): Failure[] {
    return this.progress(file).failures;
  }

  /** Records permanent failures (bad lines, rejected resources) of a file; the same `where` is kept once. */
  addFailures(file: InputFile, failures: Failure[]): void {
    const p = this.progress(file);
    const known = new Set(p.failures.map((f) => f.where));
    p.failures.push(...failures.filter((f) => !known.has(f.where)));
  }

  /** Records that the first `lines` lines of an NDJSON file are finished, and saves. */
  finishLines(file: InputFile, lines: number): void {
    this.progress(file).lines = lines;
    this.save();
  }

  /** Records that a file is finished, and saves. */
  finishFile(file: InputFile): void {
    this.progress(file).done = true;
    this.save();
  }

  private save(): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data));
    renameSync(tmp, this.path);
  }
}

/**
 * Finished lines of an NDJSON file whose chunks finish in any order: the committed offset is the end of the longest
 * run of finished chunks from the start, so a resumed import never skips a chunk that did not finish.
 */
export class LineProgress {
  private readonly open = new Map<number, number>();
  private highest: number;

  constructor(start: number) {
    this.highest = start;
  }

  /** A chunk of lines [start, end) is being worked on. */
  begin(start: number, end: number): void {
    this.open.set(start, end);
  }

  /** The chunk starting at `start` finished; returns the lines finished from the start of the file. */
  finish(start: number): number {
    const end = this.open.get(start) ?? start;
    this.open.delete(start);
    this.highest = Math.max(this.highest, end);
    return this.committed();
  }

  /** Lines finished from the start of the file (chunks still open, or failed, hold it back). */
  committed(): number {
    return this.open.size === 0 ? this.highest : Math.min(...this.open.keys());
  }

  /** Whether no chunk is open. */
  get idle(): boolean {
    return this.open.size === 0;
  }
}
