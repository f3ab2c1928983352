import express from 'express';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutcomeError } from '../fhir/outcomes.ts';
import { loadAuthConfig } from './config.ts';
import { createAuthServer } from './index.ts';
import type { Server } from 'node:http';

/*
 * The authorization layer before `start` (the HTTP door listens first): one error type, OutcomeError 503, from the
 * token check to the express answers.
 */
const auth = createAuthServer(loadAuthConfig({}), pino({ level: 'silent' }));
let server: Server;
let origin: string;

beforeAll(async () => {
  const app = express();
  app.use('/admin', auth.requireAdmin, (_req, res) => void res.json({ admitted: true }));
  app.use(auth.routes);
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err instanceof OutcomeError ? err.status : 500).json({ outcomeError: err instanceof OutcomeError });
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

describe('authorization before start', () => {
  it('resolves no token and has no SMART security yet', async () => {
    const refused = await auth.resolveAccess('some-token');
    expect(refused).toBeUndefined();
    expect(auth.security()).toBeUndefined();
  });

  it('answers SMART discovery and admin requests 503 through the one error type', async () => {
    const discovery = await fetch(`${origin}/.well-known/smart-configuration`);
    expect(discovery.status).toBe(503);
    expect(await discovery.json()).toEqual({ outcomeError: true });
    const admin = await fetch(`${origin}/admin/x`, { headers: { authorization: 'Bearer abc' } });
    expect(admin.status).toBe(503);
    expect(await admin.json()).toEqual({ outcomeError: true });
  });
});
