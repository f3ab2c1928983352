import express, { type RequestHandler } from 'express';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Door, DoorStatus } from '../core/door.ts';
import { listenOn } from '../core/listen.ts';
import { adminApi } from './admin-api.ts';
import { createHttpListener, type HttpAppDeps } from './app.ts';

/** Handles a protocol upgrade (a websocket) of one path. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Settings and dependencies of the HTTP door. */
export interface HttpDoorOptions extends Omit<HttpAppDeps, 'routes' | 'doors'> {
  port: number;
  host: string;
  /** The admin check of `/admin/*` (server/auth's). */
  requireAdmin: RequestHandler;
  /** Every door's state, for `/healthz`. */
  doors: () => DoorStatus[];
}

/**
 * The HTTP door: the FHIR API under `/fhir`, the authorization server, `/healthz`, `/metrics`, the admin APIs, and
 * what other doors add to the port (routes, admin APIs, websocket upgrades by path). It is the one door the server
 * cannot run without: a port it cannot get stops the start, default or not.
 */
export class HttpDoor implements Door<unknown> {
  readonly name = 'http';
  /** Routes other doors add outside the FHIR base. */
  readonly routes = express.Router();
  readonly server: Server;
  private readonly admins: ReturnType<typeof adminApi>;
  private readonly upgrades = new Map<string, UpgradeHandler>();
  private state: DoorStatus = { name: 'http', state: 'starting' };

  constructor(private readonly options: HttpDoorOptions) {
    this.admins = adminApi(options.requireAdmin);
    const routes = express.Router().use(this.admins.router).use(this.routes);
    this.server = createServer(createHttpListener({ ...options, routes, doors: options.doors }));
    this.server.keepAliveTimeout = 65_000;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const handler = this.upgrades.get(new URL(req.url ?? '/', 'http://localhost').pathname);
      if (handler) handler(req, socket, head);
      else socket.destroy();
    });
  }

  /** Adds an admin API under `/admin/<path>`. */
  admin(path: string, router: express.Router): void {
    this.admins.add(path, router);
  }

  /** Serves protocol upgrades of one path; other paths are refused. */
  upgrade(path: string, handler: UpgradeHandler): void {
    if (this.upgrades.has(path)) throw new Error(`upgrades of ${path} are already served`);
    this.upgrades.set(path, handler);
  }

  /** The port it listens on (after start). */
  get port(): number {
    return this.state.port ?? this.options.port;
  }

  async start(): Promise<void> {
    const { port, host, logger } = this.options;
    this.state = await listenOn(this.server, { name: this.name, port, host, explicit: true, logger });
  }

  /** Stops listening, lets requests in flight finish (for up to 5 s), then closes what is left. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const grace = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
    await Promise.race([closed, grace]);
    this.server.closeAllConnections();
    await closed;
    this.state = { name: this.name, state: 'down', port: this.state.port };
  }

  status(): DoorStatus {
    return this.state;
  }
}
