import { startTributary } from './app.ts';
import { loadConfig } from './config.ts';
import { EmbeddedPostgresError } from './db/embedded.ts';

/** `npm start`: runs Tributary until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const started = Date.now();
  const server = await startTributary(loadConfig());
  server.logger.info({ ms: Date.now() - started }, `FHIR base ${server.fhirBase}`);
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  // Start-up failures the operator can act on are one line; anything else keeps its stack for a bug report.
  if (err instanceof EmbeddedPostgresError) console.error(`Tributary could not start: ${err.message}`);
  else console.error('Tributary could not start:', err);
  process.exit(1);
});
