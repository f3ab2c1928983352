import { Worker } from 'node:worker_threads';
import { MODULE_EXTENSION, siblingModule } from '../../server/project.ts';
import type { FhirAnswer, FhirCall, FromThread, RunRequest, RunResult } from './messages.ts';

const ENTRY = siblingModule('./worker-entry', import.meta.url);

/** Limits of one bot's worker threads. */
export interface ThreadLimits {
  timeoutMs: number;
  memoryMb: number;
}

/** Answers a bot's FHIR request (bots/runtime/host.ts). */
export type FhirCallHandler = (call: FhirCall) => Promise<Omit<FhirAnswer, 'type' | 'id'>>;

/** How a run ended, as the pool saw it. */
export interface RunOutcome extends Omit<RunResult, 'type'> {
  durationMs: number;
}

/**
 * The worker threads of one bot. A run takes an idle thread (or starts one), so a bot's module is loaded once, not
 * per run; a thread that times out, runs out of memory or crashes is terminated and replaced, so a bot that hangs or
 * loops forever costs its own thread only, never the server's event loop.
 */
export class BotThreads {
  private readonly idle: Worker[] = [];

  constructor(private readonly limits: ThreadLimits) {}

  /** Runs the bot once; `onFhir` answers its FHIR requests while it runs. */
  async run(request: RunRequest, onFhir: FhirCallHandler): Promise<RunOutcome> {
    const started = Date.now();
    const worker = this.idle.pop() ?? this.spawn();
    let reusable = false;
    try {
      const result = await new Promise<RunResult>((resolve) => {
        const timer = setTimeout(
          () => resolve(failed(`the bot did not finish within ${this.limits.timeoutMs} ms and was stopped`)),
          this.limits.timeoutMs,
        );
        const cleanup = () => {
          clearTimeout(timer);
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
        };
        const onMessage = (message: FromThread) => {
          if (message.type === 'done') {
            cleanup();
            reusable = true;
            resolve(message);
            return;
          }
          onFhir(message).then(
            (answer) => worker.postMessage({ type: 'fhir-answer', id: message.id, ...answer } satisfies FhirAnswer),
            (err) =>
              worker.postMessage({
                type: 'fhir-answer',
                id: message.id,
                status: 500,
                resource: outcomeOf(err),
              } satisfies FhirAnswer),
          );
        };
        const onError = (err: Error & { code?: string }) => {
          cleanup();
          resolve(
            failed(
              err.code === 'ERR_WORKER_OUT_OF_MEMORY'
                ? `the bot ran out of memory (${this.limits.memoryMb} MB)`
                : `the bot's thread crashed: ${err.message}`,
            ),
          );
        };
        const onExit = (code: number) => {
          cleanup();
          resolve(failed(`the bot's thread exited (${code})`));
        };
        worker.on('message', onMessage);
        worker.once('error', onError);
        worker.once('exit', onExit);
        worker.postMessage(request);
      });
      return {
        ok: result.ok,
        result: result.result,
        error: result.error,
        logs: result.logs,
        durationMs: Date.now() - started,
      };
    } finally {
      if (reusable) this.idle.push(worker);
      else void worker.terminate();
    }
  }

  /** Stops every idle thread. */
  async close(): Promise<void> {
    await Promise.all(this.idle.splice(0).map((w) => w.terminate()));
  }

  private spawn(): Worker {
    const worker = new Worker(ENTRY, {
      execArgv: loaderArgs(process.execArgv),
      resourceLimits: {
        maxOldGenerationSizeMb: this.limits.memoryMb,
        maxYoungGenerationSizeMb: Math.min(32, this.limits.memoryMb),
      },
      stdout: false,
      stderr: false,
    });
    worker.unref();
    return worker;
  }
}

const LOADER_OPTION = /^(?:--import|--require|-r|--loader|--experimental-loader|--conditions|-C)$/;
const LOADER_OPTION_WITH_VALUE = /^--(?:import|require|loader|experimental-loader|conditions)=/;

/**
 * The module-loading options of this process for a bot's thread: from source, bot modules are TypeScript loaded
 * through tsx as the server itself is (`--import tsx` is added when missing); from the build they are JavaScript (an
 * operator's TypeScript bot module then loads through Node's own type stripping). Only these are passed on: a Worker
 * refuses V8 and process options such as the heap sizes `npm start` gives the server.
 */
function loaderArgs(argv: string[]): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (LOADER_OPTION.test(argv[i]) && i + 1 < argv.length) args.push(argv[i], argv[++i]);
    else if (LOADER_OPTION_WITH_VALUE.test(argv[i])) args.push(argv[i]);
  }
  return MODULE_EXTENSION === '.js' || args.some((a) => a.includes('tsx')) ? args : [...args, '--import', 'tsx'];
}

function failed(error: string): RunResult {
  return { type: 'done', ok: false, error, logs: [] };
}

function outcomeOf(err: unknown): FhirAnswer['resource'] {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'exception', diagnostics: (err as Error)?.message ?? 'failed' }],
  };
}
