import WebSocket from 'ws';
import { Arrivals } from './arrivals.ts';

/** A websocket client for tests: collects text messages and waits for them. */
export interface TestSocket {
  ws: WebSocket;
  messages: string[];
  /** Resolves with the messages once `count` arrived, rejecting after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<string[]>;
  close(): Promise<void>;
}

/** Opens a websocket (with optional headers) and starts collecting its messages. */
export async function openSocket(url: string, headers: Record<string, string> = {}): Promise<TestSocket> {
  const ws = new WebSocket(url, { headers });
  const arrivals = new Arrivals<string>();
  ws.on('message', (data) => arrivals.push(String(data)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    messages: arrivals.items,
    waitFor: (count, timeoutMs = 10_000) =>
      arrivals.waitFor(count, timeoutMs, 'websocket messages', (m) => `: ${m.join(' | ').slice(0, 500)}`),
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === ws.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close();
      }),
  };
}
