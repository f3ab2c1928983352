import { startTributary } from './app.ts';
import { loadConfig } from './config.ts';

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

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
