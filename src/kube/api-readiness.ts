// Whether the API server can serve right now, as it says itself: GET /readyz (which includes its
// etcd), polled every second (every 250 ms while it is not ready, so its return is seen at once). An informer cannot tell on its own when it falls behind during an
// etcd outage: the API server keeps its watches open and silent while etcd is gone (measured with
// etcd killed for 20 s: no error, no event, bookmarks only), so a Lease that nobody could renew
// would look expired in a cache that looks current. Time-based verdicts are therefore judged from
// `readySince()` too, and the moment /readyz turns ok again is when waiting clients (informers in
// backoff, a leader-election candidate) are told to retry at once.
import type { KubeConfig } from './kubeconfig.ts';
import { loggerFor, type Logger } from '../observability/logger.ts';
import { gauge } from '../observability/metrics.ts';
import { clockTimeout, realClock, sleep, type Clock } from './clock.ts';
import { apiStatusCode, describeApiError } from './errors.ts';
import { kubeRequest } from './request.ts';

const readyGauge = gauge({ name: 'apiserver_ready', help: "1 while the API server's /readyz answers ok to this process, else 0.", labelNames: [] });

/** One readiness check; resolves true when the API server is ready, false or a rejection when not. */
export type ReadinessProbe = (signal: AbortSignal) => Promise<boolean>;

/**
 * GET /readyz. A 401/403/404 means the API server answered but will not say (RBAC without the
 * default system:public-info-viewer binding): counted as ready, so the check degrades to the
 * informers' own view instead of blocking every decision; 5xx, 429 and no answer are not ready.
 */
export function readyzProbe(kc: KubeConfig): ReadinessProbe {
  return async (signal) => {
    try {
      return (await kubeRequest(kc, { method: 'GET', path: '/readyz', responseType: 'text', signal })) === 'ok';
    } catch (err) {
      const code = apiStatusCode(err);
      if (code === 401 || code === 403 || code === 404) return true;
      throw err;
    }
  };
}

export interface ApiReadinessOptions {
  probe: ReadinessProbe;
  /** Between checks while ready; default 1 s. */
  intervalMs?: number;
  /** Between checks while not ready, so a recovery is seen soon; default 250 ms. */
  notReadyIntervalMs?: number;
  /** A probe taking longer counts as not ready; default 2 s. */
  timeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export class ApiReadiness {
  readonly #o: ApiReadinessOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  readonly #listeners: Array<() => void> = [];
  #readySince: number | undefined;
  #loop: Promise<void> | undefined;

  constructor(opts: ApiReadinessOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? loggerFor('api-readiness');
  }

  /** Since when /readyz has answered ok without a failure in between; undefined while it does not (or before the first answer). */
  readySince(): number | undefined {
    return this.#readySince;
  }

  /** Called each time /readyz turns ok (the first time and after every outage). Returns its removal. */
  onReady(fn: () => void): () => void {
    this.#listeners.push(fn);
    return () => {
      const i = this.#listeners.indexOf(fn);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  /** Checks once now; exposed for tests and for a first answer without waiting a period. */
  async check(): Promise<boolean> {
    const timeout = clockTimeout(this.#clock, this.#o.timeoutMs ?? 2_000);
    let ready = false;
    let why = 'not ok';
    try {
      ready = await this.#o.probe(AbortSignal.any([timeout.signal, this.#stop.signal]));
    } catch (err) {
      why = describeApiError(err);
    } finally {
      timeout.cancel();
    }
    if (this.#stop.signal.aborted) return ready;
    if (ready && this.#readySince === undefined) {
      this.#readySince = this.#clock.now();
      readyGauge.set(1);
      this.#log.info('The API server is ready');
      for (const fn of this.#listeners) {
        try {
          fn();
        } catch (err) {
          this.#log.error('A readiness listener threw', { error: String(err) });
        }
      }
    } else if (!ready && this.#readySince !== undefined) {
      this.#readySince = undefined;
      readyGauge.set(0);
      this.#log.warn('The API server is not ready; time-based verdicts wait until it is', { error: why });
    }
    return ready;
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      const ready = await this.check();
      await sleep(this.#clock, ready ? (this.#o.intervalMs ?? 1_000) : (this.#o.notReadyIntervalMs ?? 250), this.#stop.signal);
    }
  }
}
