/**
 * Polls `check` every `everyMs` until it holds; resolves with the elapsed ms, or rejects
 * naming `what` after `timeoutMs`.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000, everyMs = 10): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return Date.now() - started;
}
