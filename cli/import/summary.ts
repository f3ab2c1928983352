import { relative } from 'node:path';
import type { Failure } from './state.ts';

/** The diagnostics of an OperationOutcome (or whatever else the server answered), for a failure's reason. */
export function outcomeReason(body: unknown): string {
  const issues = (
    body as { resourceType?: string; issue?: { diagnostics?: string; details?: { text?: string }; code?: string }[] }
  )?.issue;
  if (Array.isArray(issues) && issues.length > 0) {
    return issues.map((i) => i.diagnostics ?? i.details?.text ?? i.code ?? '').join('; ');
  }
  if (body === undefined || body === '') return 'no response body';
  return typeof body === 'string' ? body : JSON.stringify(body).slice(0, 300);
}

/** Counts and failures of one import run. */
export class ImportSummary {
  files = 0;
  /** Files finished by earlier runs and not sent again. */
  skipped = 0;
  /** Files this run finished. */
  finished = 0;
  resources = 0;
  /** Failures of this run. */
  readonly failures: Failure[] = [];
  /** Failures earlier runs recorded for files they finished (not retried: the files did not change). */
  readonly earlier: Failure[] = [];
  /** Why the run stopped before the end (interrupted, server unreachable, token refused). */
  stopped?: string;
  private readonly started = performance.now();

  /** Seconds since the run started. */
  seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** Resources written per second so far. */
  rate(): number {
    return this.resources / Math.max(this.seconds(), 1e-3);
  }

  /** Whether anything failed, now or in the recorded earlier runs, or the run stopped early. */
  get failed(): boolean {
    return this.failures.length > 0 || this.earlier.length > 0 || this.stopped !== undefined;
  }

  /** The summary printed at the end: counts, rate, and every failure with its status and reason. */
  format(limit = 100): string {
    const lines = [
      `files: ${this.files} (${this.finished} finished now, ${this.skipped} skipped as finished earlier, ${this.files - this.finished - this.skipped} not finished)`,
      `resources: ${this.resources} in ${this.seconds().toFixed(1)} s (${Math.round(this.rate())} resources/s)`,
    ];
    const list = (title: string, failures: Failure[]) => {
      if (failures.length === 0) return;
      lines.push(`${title} (${failures.length}):`);
      for (const f of failures.slice(0, limit))
        lines.push(`  ${shortPath(f.where)}  ${f.status ? `${f.status} ` : ''}${f.reason}`);
      if (failures.length > limit) lines.push(`  … and ${failures.length - limit} more`);
    };
    list('failures', this.failures);
    list('failures recorded by earlier runs (files unchanged; --fresh to retry them)', this.earlier);
    if (this.stopped) lines.push(`stopped: ${this.stopped}; run the same command again to resume`);
    return lines.join('\n');
  }
}

function shortPath(where: string): string {
  const rel = relative(process.cwd(), where);
  return rel.startsWith('..') ? where : rel;
}
