/** Polls `what` every 50 ms until it returns something truthy, and returns that; throws after `timeoutMs`. */
export async function until<T>(
  what: () => Promise<T | undefined | false | null>,
  timeoutMs = 20_000,
  label = 'the condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await what();
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
