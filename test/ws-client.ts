import WebSocket from 'ws';

/** A websocket client for tests: collects text messages and waits for them. */
export interface TestSocket {
  ws: WebSocket;
  messages: string[];
  /** Resolves with the messages once `count` arrived (after `from`), rejecting after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<string[]>;
  close(): Promise<void>;
}

/** Opens a websocket (with optional headers) and starts collecting its messages. */
export async function openSocket(url: string, headers: Record<string, string> = {}): Promise<TestSocket> {
  const ws = new WebSocket(url, { headers });
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    messages.push(String(data));
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    messages,
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${count} websocket messages, got ${messages.length}: ${messages.join(' | ').slice(0, 500)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 200));
          waiters.push(() => (clearTimeout(t), resolve()));
        });
      }
      return messages;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === ws.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close();
      }),
  };
}
