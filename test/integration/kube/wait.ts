import { poll } from '../../support/poll.ts';

// Polls a condition until it holds; the mocha timeout is the real bound, this one only names the wait.
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  await poll(what, async () => ((await cond()) ? true : undefined), timeoutMs, 50);
}
