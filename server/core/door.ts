/** The state of a door, as `GET /healthz` lists it. */
export type DoorState = 'starting' | 'up' | 'down' | 'disabled';

/** What `GET /healthz` says of one door: its state, the port it listens on, and why it is down or disabled. */
export interface DoorStatus {
  name: string;
  state: DoorState;
  port?: number;
  reason?: string;
}

/**
 * A door into the server (HTTP, websocket, MLLP, MQTT) or a module that runs beside the requests (the subscription
 * worker, the bots' scheduler, the job runner): started once the core is up, with what the running server offers
 * (`host`, server/host/host.ts), and stopped in reverse order. A door reads its own settings (its enable switch,
 * its port) from `host.env`, registers what it adds (routes, operations, write checks) in `start`, and reports its
 * state for `/healthz`. A door that cannot run (disabled, a default port taken) stays down; `start` throws only for
 * what should stop the server (a port the operator set and cannot get).
 */
export interface Door<H> {
  readonly name: string;
  start(host: H): Promise<void>;
  stop(): Promise<void>;
  status(): DoorStatus;
}
