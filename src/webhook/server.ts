// HTTPS server for admission webhooks (admission.k8s.io/v1). It owns transport concerns only:
// TLS with hot reload, routing, body limits, timeouts and the AdmissionReview envelope. What to
// admit is decided by the registered handlers.
//
// A handler that throws or exceeds the request timeout gets an HTTP 500, not a verdict: the API
// server then applies the webhook's failurePolicy, which is where that decision belongs.
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { loggerFor } from '../observability/logger.ts';
import { counter, gauge, histogram } from '../observability/metrics.ts';

const log = loggerFor('webhook-server');

const groupVersionKind = z.looseObject({ group: z.string(), version: z.string(), kind: z.string() });

export const admissionRequestSchema = z.looseObject({
  uid: z.string().min(1),
  kind: groupVersionKind,
  resource: z.looseObject({ group: z.string(), version: z.string(), resource: z.string() }),
  subResource: z.string().optional(),
  operation: z.string(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
  userInfo: z.looseObject({ username: z.string().optional(), uid: z.string().optional(), groups: z.array(z.string()).optional() }).optional(),
});

export const admissionReviewSchema = z.looseObject({
  apiVersion: z.literal('admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview'),
  request: admissionRequestSchema,
});

export type AdmissionRequest = z.infer<typeof admissionRequestSchema>;
export type AdmissionReview = z.infer<typeof admissionReviewSchema>;

/** RFC 6902 operation, as carried (base64) in a mutating response. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

/** A handler's decision: an admission response without the uid (the server copies it). */
export interface AdmissionVerdict {
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  patchType?: 'JSONPatch';
  /** Base64 of the JSON-encoded patch operations. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionVerdict & { uid: string };
}

/** Admit unchanged. */
export function allow(warnings: readonly string[] = []): AdmissionVerdict {
  return { allowed: true, ...warningsField(warnings) };
}

/** Reject; `message` is what the user sees, so say what was wrong and what to do instead. */
export function deny(message: string, opts: { code?: number; reason?: string; warnings?: readonly string[] } = {}): AdmissionVerdict {
  return { allowed: false, status: { code: opts.code ?? 403, reason: opts.reason ?? 'Forbidden', message }, ...warningsField(opts.warnings ?? []) };
}

/** Admit with a JSON patch; with no operations this is a plain {@link allow}. */
export function allowWithPatch(ops: readonly JsonPatchOperation[], warnings: readonly string[] = []): AdmissionVerdict {
  if (ops.length === 0) return allow(warnings);
  const patch = Buffer.from(JSON.stringify(ops), 'utf8').toString('base64');
  return { allowed: true, patchType: 'JSONPatch', patch, ...warningsField(warnings) };
}

export function reviewResponse(uid: string, verdict: AdmissionVerdict): AdmissionReviewResponse {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...verdict } };
}

function warningsField(warnings: readonly string[]): { warnings?: string[] } {
  return warnings.length > 0 ? { warnings: [...warnings] } : {};
}

export interface AdmissionContext {
  review: AdmissionReview;
  /** Aborted when the request times out or the client goes away; stop work when it fires. */
  signal: AbortSignal;
}

export type AdmissionHandler = (request: AdmissionRequest, ctx: AdmissionContext) => AdmissionVerdict | Promise<AdmissionVerdict>;

export interface TlsPems {
  certPem: string;
  keyPem: string;
}

export interface WebhookServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  tls: TlsPems;
  /** Path → handler; paths look like `/mutate-<name>` or `/validate-<name>`. */
  handlers: Readonly<Record<string, AdmissionHandler>>;
  /** Larger bodies get 413. The default fits an object and oldObject at etcd's 1.5 MiB limit. */
  maxBodyBytes?: number;
  /** Handler budget; keep it below the webhook configuration's timeoutSeconds. */
  requestTimeoutMs?: number;
}

/** controller-runtime's webhook metric names, so existing dashboards and alerts apply. */
export const webhookMetrics = {
  requests: counter({ name: 'controller_runtime_webhook_requests_total', help: 'Total number of admission requests by HTTP status code.', labelNames: ['webhook', 'code'] }),
  latency: histogram({ name: 'controller_runtime_webhook_latency_seconds', help: 'Histogram of the latency of processing admission requests.', labelNames: ['webhook'] }),
  inFlight: gauge({ name: 'controller_runtime_webhook_requests_in_flight', help: 'Current number of admission requests being served.', labelNames: ['webhook'] }),
};

const ROUTE = /^\/(mutate|validate)-[a-z0-9][a-z0-9-]*$/;
const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS = 9_000;
const KEEP_ALIVE_MS = 120_000;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class WebhookServer {
  readonly #server: https.Server;
  readonly #handlers: ReadonlyMap<string, AdmissionHandler>;
  readonly #maxBodyBytes: number;
  readonly #timeoutMs: number;
  #fingerprint: string;
  #port = 0;

  private constructor(opts: WebhookServerOptions) {
    this.#handlers = routes(opts.handlers);
    this.#maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#fingerprint = checkedFingerprint(opts.tls);
    this.#server = https.createServer(
      // The API server's client keeps idle connections for 90 s; Node would close them after 5 s, so a
      // VMIM created after a quiet spell paid a TLS handshake. Outliving the client's timeout also
      // leaves the close to the client, so a request never races a connection the server is closing.
      { cert: opts.tls.certPem, key: opts.tls.keyPem, minVersion: 'TLSv1.2', requestTimeout: this.#timeoutMs + 5_000, keepAliveTimeout: KEEP_ALIVE_MS },
      (req, res) => {
        // Node's request listener cannot wait; #serve answers every failure itself (4xx/5xx, logged).
        void this.#serve(req, res);
      },
    );
  }

  /** Creates the server and resolves once it is listening. */
  static async listen(opts: WebhookServerOptions): Promise<WebhookServer> {
    const server = new WebhookServer(opts);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
        server.#server.off('error', reject);
        server.#port = (server.#server.address() as AddressInfo).port;
        resolve();
      });
    });
    log.info('Started webhook server', { port: server.port, routes: [...server.#handlers.keys()] });
    return server;
  }

  /** The port it listens (or, after close, listened) on. */
  get port(): number {
    return this.#port;
  }

  /** SHA-256 fingerprint of the certificate new connections are served with. */
  get certificateFingerprint(): string {
    return this.#fingerprint;
  }

  /** The underlying server, for listeners such as metrics or tests. */
  get nodeServer(): https.Server {
    return this.#server;
  }

  /**
   * Serves `pems` to new connections from now on (no restart). Idle keep-alive connections are
   * closed so clients reconnect with the new certificate. Returns false when nothing changed.
   */
  updateTls(pems: TlsPems): boolean {
    const fingerprint = checkedFingerprint(pems);
    if (fingerprint === this.#fingerprint) return false;
    this.#server.setSecureContext({ cert: pems.certPem, key: pems.keyPem, minVersion: 'TLSv1.2' });
    this.#server.closeIdleConnections();
    this.#fingerprint = fingerprint;
    log.info('Reloaded webhook serving certificate', { fingerprint });
    return true;
  }

  /** Stops accepting connections, lets in-flight requests finish for `graceMs`, then cuts the rest. */
  async close(graceMs = 5_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const timer = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
    log.info('Stopped webhook server');
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://webhook.invalid').pathname;
    if (path === '/healthz') return sendText(res, 200, 'ok');
    const handler = this.#handlers.get(path);
    // Metrics are labelled by route only for known routes: a scanner must not grow the series.
    const webhook = handler ? path : 'unknown';
    const started = performance.now();
    webhookMetrics.inFlight.inc({ webhook });
    let code = 200;
    try {
      if (!handler) throw new HttpError(404, `no admission handler at ${path}`);
      if (req.method !== 'POST') throw new HttpError(405, `${path} accepts POST only`);
      const review = parseReview(await readBody(req, this.#maxBodyBytes));
      const verdict = await this.#decide(handler, review, res);
      sendJson(res, 200, reviewResponse(review.request.uid, verdict));
    } catch (err) {
      code = err instanceof HttpError ? err.status : 500;
      if (code === 500) log.error('Failed admission request', { path, error: (err as Error).message });
      // After 413 the rest of the body is still on the wire; do not reuse the connection.
      if (code === 413) res.setHeader('Connection', 'close');
      if (!res.headersSent) sendText(res, code, (err as Error).message);
    } finally {
      webhookMetrics.inFlight.dec({ webhook });
      webhookMetrics.requests.inc({ webhook, code: String(code) });
      webhookMetrics.latency.observe({ webhook }, (performance.now() - started) / 1000);
    }
  }

  async #decide(handler: AdmissionHandler, review: AdmissionReview, res: ServerResponse): Promise<AdmissionVerdict> {
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client closed the connection'));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new HttpError(500, `admission handler exceeded ${this.#timeoutMs} ms`);
        reject(err); // settle first, so a handler that returns on abort cannot win the race
        abort.abort(err);
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve(handler(review.request, { review, signal: abort.signal })), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function routes(handlers: Readonly<Record<string, AdmissionHandler>>): ReadonlyMap<string, AdmissionHandler> {
  for (const path of Object.keys(handlers)) {
    if (!ROUTE.test(path)) throw new Error(`webhook server: route "${path}" must look like /mutate-<name> or /validate-<name> (lowercase, digits, dashes)`);
  }
  return new Map(Object.entries(handlers));
}

/** Validates a cert/key pair before it is served; the error says which part is wrong. */
function checkedFingerprint(pems: TlsPems): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pems.certPem);
    createSecureContext({ cert: pems.certPem, key: pems.keyPem });
  } catch (err) {
    throw new Error(`webhook server: TLS certificate/key pair is unusable (${(err as Error).message}); check the webhook TLS Secret`, { cause: err });
  }
  return cert.fingerprint256;
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new HttpError(413, `request body of ${declared} bytes exceeds the ${maxBytes}-byte limit`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new HttpError(413, `request body exceeds the ${maxBytes}-byte limit`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseReview(body: Buffer): AdmissionReview {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not JSON; expected an admission.k8s.io/v1 AdmissionReview');
  }
  const parsed = admissionReviewSchema.safeParse(json);
  if (!parsed.success) throw new HttpError(400, `request is not an admission.k8s.io/v1 AdmissionReview: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) }).end(data);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
}
