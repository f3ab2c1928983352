import type { ImportOptions } from './args.ts';
import { BadInput, listInputFiles, ndjsonChunks, readBundleFile, type InputFile, type NdjsonChunk } from './readers.ts';
import { BundleSender } from './sender.ts';
import { ImportState, LineProgress, statePath, type Failure } from './state.ts';
import { ImportSummary } from './summary.ts';
import { sendBundle, sendChunk, type UnitResult } from './units.ts';

/** How far an import is: bytes of the input files read (of those to do this run) and resources written. */
export interface ImportProgress {
  bytes: number;
  totalBytes: number;
  resources: number;
}

/** Runs sends at most `size` at a time. */
class Slots {
  private readonly running = new Set<Promise<void>>();
  constructor(private readonly size: number) {}

  /** Starts `task` as soon as a slot is free (resolves once it has started). */
  async run(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.size) await Promise.race(this.running);
    const p: Promise<void> = task().finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /** Waits for every started task. */
  async drain(): Promise<void> {
    await Promise.all(this.running);
  }
}

/** An NDJSON file in this run: where reading started, which chunks are finished, which wait for another round. */
interface NdjsonRun {
  file: InputFile;
  from: number;
  lines: LineProgress;
  eof: boolean;
  /** Chunks refused in the last round, by first line index, with that round's result. */
  later: Map<number, UnitResult>;
}

/**
 * Imports files into a Tributary: Bundles as they are (one request each), NDJSON as transaction Bundles of PUTs,
 * `concurrency` requests at a time. What the server refuses as a whole is tried again after the rest (rounds go on
 * while a round gets something in), so data referring to resources in a later file (conditional references
 * such as `Practitioner?identifier=…`) still goes in. Progress is saved in the state file after each finished
 * piece, so a run stopped by `signal` (or killed) resumes where it left off; files finished earlier are skipped.
 */
export async function runImport(
  options: ImportOptions,
  hooks: { signal?: AbortSignal; progress?: (p: ImportProgress) => void } = {},
): Promise<ImportSummary> {
  const summary = new ImportSummary();
  const files = listInputFiles(options.paths);
  const state = ImportState.load(statePath(options.url, options.paths), options.url, options.fresh);
  const sender = new BundleSender(options.url, options);
  const slots = new Slots(options.concurrency);
  const stop = (reason: string) => (summary.stopped ??= reason);
  const onAbort = () => stop('interrupted');
  hooks.signal?.addEventListener('abort', onAbort);
  const stopped = () => summary.stopped !== undefined;

  summary.files = files.length;
  const todo = files.filter((f) => {
    if (!state.isDone(f)) return true;
    summary.skipped++;
    summary.earlier.push(...state.recordedFailures(f));
    return false;
  });
  const progress: ImportProgress = { bytes: 0, totalBytes: todo.reduce((n, f) => n + f.size, 0), resources: 0 };
  const advance = (bytes: number) => {
    progress.bytes += bytes;
    progress.resources = summary.resources;
    hooks.progress?.(progress);
  };
  hooks.progress?.(progress);

  /** Reports failures refused for good: in this run's summary and in the state, for re-runs to report. */
  const refuse = (file: InputFile, failures: Failure[]) => {
    summary.failures.push(...failures);
    state.addFailures(file, failures);
  };
  const finishFile = (file: InputFile) => {
    state.finishFile(file);
    summary.finished++;
  };
  let progressed = false;
  /** Books a unit's result; returns whether it waits for a later round. */
  const book = (file: InputFile, result: UnitResult, final: boolean): boolean => {
    summary.resources += result.resources;
    if (!result.failure) {
      progressed = true;
      refuse(file, result.refused);
      return false;
    }
    if (result.then === 'later' && !final) return true;
    if (result.then === 'stop')
      stop(`${result.failure.status ? `the server answered ${result.failure.status}: ` : ''}${result.failure.reason}`);
    if (result.then === 'later') refuse(file, [...result.refused, result.failure]);
    else summary.failures.push(result.failure);
    return false;
  };

  const laterBundles = new Map<InputFile, UnitResult>();
  const bundle = async (file: InputFile) => {
    let content;
    try {
      content = readBundleFile(file.path);
    } catch (err) {
      if (!(err instanceof BadInput)) throw err;
      refuse(file, [{ where: file.path, reason: err.message }]);
      finishFile(file);
      return;
    }
    await slots.run(async () => {
      if (stopped()) return;
      const result = await sendBundle(sender, file, content);
      laterBundles.delete(file);
      if (book(file, result, false)) laterBundles.set(file, result);
      else if (!result.failure) finishFile(file);
    });
  };

  const ndjson = new Map<InputFile, NdjsonRun>();
  const settleChunk = (run: NdjsonRun, chunk: Pick<NdjsonChunk, 'start'>) => {
    state.finishLines(run.file, run.lines.finish(chunk.start));
    if (run.eof && run.lines.idle) finishFile(run.file);
  };
  const sendLines = async (run: NdjsonRun, chunk: NdjsonChunk) => {
    await slots.run(async () => {
      if (stopped()) return;
      const result = await sendChunk(sender, run.file, chunk);
      run.later.delete(chunk.start);
      if (book(run.file, result, false)) run.later.set(chunk.start, result);
      else if (!result.failure) settleChunk(run, chunk);
    });
  };
  /** Reads an NDJSON file from where earlier runs left off; `only` limits it to chunks waiting for another round. */
  const lines = async (run: NdjsonRun, only?: Set<number>) => {
    try {
      for await (const chunk of ndjsonChunks(run.file.path, run.from, options.batchSize)) {
        if (stopped()) return;
        if (only) {
          if (only.has(chunk.start)) await sendLines(run, chunk);
          if (chunk.start >= Math.max(...only)) return;
          continue;
        }
        advance(chunk.bytes);
        run.lines.begin(chunk.start, chunk.end);
        refuse(
          run.file,
          chunk.bad.map((b) => ({ where: `${run.file.path}:${b.line}`, reason: b.reason })),
        );
        if (chunk.entries.length === 0) settleChunk(run, chunk);
        else await sendLines(run, chunk);
      }
    } catch (err) {
      if (!(err instanceof BadInput)) throw err;
      // A damaged file (bad gzip data) ends where the damage starts: reading it again would fail the same way.
      if (!only) refuse(run.file, [{ where: run.file.path, reason: err.message }]);
    }
    if (only) return;
    run.eof = true;
    if (run.lines.idle) finishFile(run.file);
  };

  try {
    for (const file of todo) {
      if (stopped()) break;
      if (file.kind === 'bundle') {
        await bundle(file);
        advance(file.size);
        continue;
      }
      const from = state.linesDone(file);
      const run: NdjsonRun = { file, from, lines: new LineProgress(from), eof: false, later: new Map() };
      ndjson.set(file, run);
      await lines(run);
    }
    await slots.drain();
    const waiting = () => laterBundles.size + [...ndjson.values()].reduce((n, r) => n + r.later.size, 0);
    while (!stopped() && progressed && waiting() > 0) {
      progressed = false;
      for (const file of [...laterBundles.keys()]) if (!stopped()) await bundle(file);
      for (const run of ndjson.values())
        if (!stopped() && run.later.size > 0) await lines(run, new Set(run.later.keys()));
      await slots.drain();
    }
    const later = [...laterBundles.values(), ...[...ndjson.values()].flatMap((r) => [...r.later.values()])];
    if (stopped()) summary.failures.push(...later.map((r) => r.failure as Failure));
    else {
      // Nothing more went in: what still waits is refused for good.
      for (const [file, result] of laterBundles) {
        book(file, result, true);
        finishFile(file);
      }
      for (const run of ndjson.values()) {
        for (const [start, result] of run.later) {
          book(run.file, result, true);
          settleChunk(run, { start });
        }
      }
    }
  } finally {
    await slots.drain();
    hooks.signal?.removeEventListener('abort', onAbort);
  }
  return summary;
}
