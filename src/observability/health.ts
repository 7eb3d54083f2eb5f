// Probe and scrape endpoints (kubebuilder convention): /healthz answers while the process and its
// event loop are alive and never consults the API server, so an apiserver blip does not restart
// every pod; /readyz runs the registered readiness checks (informers synced, TLS loaded, ...);
// /metrics serves the registry.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { loggerFor } from './logger.ts';
import { metricsRegistry } from './metrics.ts';

/** true/void = healthy; false or a thrown error = unhealthy (the error message is reported). */
export type HealthCheck = () => boolean | void | Promise<boolean | void>;

export interface HealthServerOptions {
  /** 0 picks a free port; `listen()` returns the bound one. */
  port: number;
  host?: string;
  registry?: Registry;
}

const log = loggerFor('health');

// Not `import … from 'node:http'`: the ES module view of node:http reads every export, its lazy
// `WebSocket` too, which loads Node's bundled undici (~13 MiB RSS in every component, for a class
// nothing here uses). getBuiltinModule returns the module itself, its getters untouched.
const { createServer } = process.getBuiltinModule('node:http');

interface CheckResult {
  name: string;
  ok: boolean;
  error?: string;
}

async function runChecks(checks: Map<string, HealthCheck>): Promise<CheckResult[]> {
  return Promise.all(
    [...checks].map(async ([name, check]) => {
      try {
        return { name, ok: (await check()) !== false };
      } catch (err) {
        return { name, ok: false, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

/** Kubernetes' own probe body format: one `[+]name ok` / `[-]name failed: why` line per check. */
function reportChecks(results: CheckResult[], res: ServerResponse): void {
  const ok = results.every((r) => r.ok);
  const lines = results.map((r) => (r.ok ? `[+]${r.name} ok` : `[-]${r.name} failed${r.error ? `: ${r.error}` : ''}`));
  lines.push(ok ? 'ok' : 'not ready');
  res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(lines.join('\n') + '\n');
}

export class HealthServer {
  readonly #opts: HealthServerOptions;
  readonly #readiness = new Map<string, HealthCheck>();
  readonly #liveness = new Map<string, HealthCheck>();
  #server: Server | undefined;

  constructor(opts: HealthServerOptions) {
    this.#opts = opts;
  }

  /** A check /readyz runs; re-adding a name replaces it. */
  addReadinessCheck(name: string, check: HealthCheck): void {
    this.#readiness.set(name, check);
  }

  /** A check /healthz runs. Only for failures a restart fixes (e.g. a watch that cannot recover). */
  addLivenessCheck(name: string, check: HealthCheck): void {
    this.#liveness.set(name, check);
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    if (this.#server) throw new Error('The health server is already listening');
    // Node's request listener cannot wait; #handle answers and logs every failure itself (500).
    const server = createServer((req, res) => void this.#handle(req, res));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    log.info('Health server listened', { port });
    return port;
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then drops the rest. */
  async close(graceMs = 2000): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/healthz' || path === '/livez') {
        reportChecks(await runChecks(this.#liveness), res);
      } else if (path === '/readyz') {
        reportChecks(await runChecks(this.#readiness), res);
      } else if (path === '/metrics') {
        const registry = this.#opts.registry ?? metricsRegistry;
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(body);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    } catch (err) {
      log.error('Health request failed', { url: req.url, error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  }
}
