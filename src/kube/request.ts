// One raw JSON request to the API server, authenticated from a KubeConfig. Used where the generated
// clients fall short: any resource by path, status subresources, explicit patch content types.
// Responses are plain JSON (no client-node model classes), to be validated by the caller.
import { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { describeApiError } from './errors.ts';
import { authenticate } from './transport.ts';

export type KubeMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface KubeRequest {
  method: KubeMethod;
  /** Path below the server URL, e.g. `/api/v1/namespaces/default/configmaps`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Serialized as JSON (also for apply-patch+yaml: JSON is YAML). */
  body?: unknown;
  /** Defaults to application/json when there is a body. */
  contentType?: string;
  signal?: AbortSignal;
  /** `text` returns the body as a string (health endpoints such as /readyz answer `ok`). Default json. */
  responseType?: 'json' | 'text';
}

/** A non-2xx answer. `code` and `body` mirror client-node's ApiException so errors.ts reads both. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly body: string;
  /** The Retry-After header (seconds), if the server sent one. */
  readonly retryAfter: string | undefined;
  constructor(method: string, path: string, code: number, body: string, retryAfter?: string) {
    super('');
    this.code = code;
    this.body = body;
    this.retryAfter = retryAfter;
    this.message = `${method} ${path} failed: ${describeApiError(this)}`;
    this.name = 'KubeApiError';
  }
}

const http = new IsomorphicFetchHttpLibrary();

/** 429 means "not processed, come back": retried like client-go does, honouring Retry-After. */
const MAX_THROTTLE_RETRIES = 5;
const MAX_RETRY_AFTER_MS = 10_000;

export async function kubeRequest(kc: KubeConfig, req: KubeRequest): Promise<unknown> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await kubeRequestOnce(kc, req);
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.code !== 429 || attempt >= MAX_THROTTLE_RETRIES || req.signal?.aborted) throw err;
      const seconds = Number(err.retryAfter ?? '1');
      await new Promise((r) => setTimeout(r, Math.min(MAX_RETRY_AFTER_MS, (Number.isFinite(seconds) ? seconds : 1) * 1000)));
    }
  }
}

async function kubeRequestOnce(kc: KubeConfig, req: KubeRequest): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('The kubeconfig has no current cluster: set current-context or pass --kubeconfig');
  const url = new URL(cluster.server.replace(/\/$/, '') + req.path);
  for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));

  const ctx = new RequestContext(url.toString(), HttpMethod[req.method]);
  ctx.setHeaderParam('Accept', 'application/json');
  if (req.body !== undefined) {
    ctx.setHeaderParam('Content-Type', req.contentType ?? 'application/json');
    ctx.setBody(JSON.stringify(req.body));
  }
  if (req.signal) ctx.setSignal(req.signal);
  await authenticate(kc, ctx);

  const res = await http.send(ctx).toPromise();
  const text = await res.body.text();
  if (res.httpStatusCode < 200 || res.httpStatusCode > 299) {
    throw new KubeApiError(req.method, req.path, res.httpStatusCode, text, res.headers['retry-after']);
  }
  if (req.responseType === 'text') return text;
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}
