import type { Server as NetServer } from 'node:net';
import type { Logger } from 'pino';
import type { DoorStatus } from '../core/door.ts';

/** Where a door listens, and whether the operator chose the port (an explicit port must be had). */
export interface ListenOptions {
  name: string;
  port: number;
  host: string;
  /** True when the operator set the port; false for the default (then a taken port leaves the door down). */
  explicit: boolean;
  logger: Logger;
}

/**
 * Starts a door's listener. A default port already taken (a developer's own Mosquitto on 1883) is one clear log line
 * and the door stays down; a port the operator set explicitly and cannot get throws that same message, which stops
 * the start. Other errors throw.
 */
export async function listenOn(server: NetServer, options: ListenOptions): Promise<DoorStatus> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
    const reason = `port ${options.port} on ${options.host} is ${code === 'EADDRINUSE' ? 'already in use' : 'not permitted'}`;
    if (options.explicit) throw new Error(`${options.name}: ${reason}`);
    options.logger.warn(`${options.name} stays down: ${reason} (set its port to use another one)`);
    return { name: options.name, state: 'down', port: options.port, reason };
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { name: options.name, state: 'up', port };
}
