// One WATCH request read as a stream of events, on the pooled, authenticated transport every other
// request uses (transport.ts). Modelled on client-node's `Watch` (2.0.1, src/watch.ts): a timer that
// aborts the request when no bytes arrive, the connect included, restarted on every chunk. We own it
// instead of writing that class's private `requestTimeoutMs` (ADR 0002): the informer needs a longer
// bound than client-node's fixed 30 s, because its own watchdog decides when a quiet watch is stale.
// Differences from client-node: a non-200 answer carries the API server's Status body (KubeApiError,
// so errors.ts classifies 410 and 403 as for any request), and a line that is not JSON ends the
// watch with an error (the informer relists) instead of being dropped.
import { fetch } from 'undici';
import { realClock, type CancelTimer, type Clock } from './clock.ts';
import type { KubeConfig } from './kubeconfig.ts';
import { KubeApiError } from './request.ts';
import { authenticate } from './transport.ts';

export interface WatchStreamOptions {
  /** Path below the server URL, e.g. `/api/v1/nodes`. */
  path: string;
  query: Record<string, string | number | boolean | undefined>;
  /** Abort when no bytes arrived for this long (connecting included). */
  inactivityTimeoutMs: number;
  /** The inactivity timer's clock (tests pass a fake one). */
  clock?: Clock;
}

export interface WatchStream {
  /** Ends the watch; `onDone` is not called afterwards. */
  stop(): void;
}

/** The watch went quiet for longer than `inactivityTimeoutMs`. */
export class WatchInactivityError extends Error {
  constructor(path: string, ms: number) {
    super(`WATCH ${path}: no bytes for ${ms} ms; aborted`);
    this.name = 'TimeoutError';
  }
}

/**
 * Opens the watch; rejects only when the request cannot be built or authenticated. Every later end
 * (server close, HTTP error, inactivity, a broken stream) reaches `onDone` exactly once, unless
 * `stop()` came first; `onDone()` without an error is a normal close by the server.
 */
export async function watchStream(
  kc: KubeConfig,
  o: WatchStreamOptions,
  onEvent: (type: string, object: unknown) => void,
  onDone: (err?: unknown) => void,
): Promise<WatchStream> {
  const { server, headers, dispatcher } = await authenticate(kc);
  const url = new URL(server + o.path);
  url.searchParams.set('watch', 'true');
  for (const [k, v] of Object.entries(o.query)) if (v !== undefined) url.searchParams.set(k, String(v));

  const clock = o.clock ?? realClock;
  const abort = new AbortController();
  let ended = false;
  let cancelTimer: CancelTimer = () => undefined;
  const end = (err?: unknown): void => {
    if (ended) return;
    ended = true;
    cancelTimer();
    abort.abort();
    onDone(err);
  };
  const rearm = (): void => {
    cancelTimer();
    cancelTimer = clock.setTimer(() => end(new WatchInactivityError(o.path, o.inactivityTimeoutMs)), o.inactivityTimeoutMs);
  };
  const stream = async (): Promise<void> => {
    rearm();
    const res = await fetch(url, { headers, dispatcher, signal: abort.signal });
    if (res.status !== 200) throw new KubeApiError('WATCH', o.path, res.status, await res.text());
    if (!res.body) return;
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of res.body) {
      if (ended) return;
      rearm();
      pending += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0 && !ended) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (line !== '') deliver(line);
      }
    }
  };
  const deliver = (line: string): void => {
    let event: { type?: unknown; object?: unknown };
    try {
      event = JSON.parse(line) as { type?: unknown; object?: unknown };
    } catch {
      throw new Error(`WATCH ${o.path}: the API server sent a line that is not JSON: ${JSON.stringify(line.slice(0, 120))}`);
    }
    onEvent(String(event.type), event.object);
  };
  // The stream runs on its own: how it ends (close, HTTP error, inactivity, a broken connection)
  // goes to onDone, which the informer turns into a resume or a relist; nothing is left to reject.
  void stream().then(() => end(), (err: unknown) => end(err));
  return {
    stop() {
      ended = true;
      cancelTimer();
      abort.abort();
    },
  };
}
