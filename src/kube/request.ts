// One raw JSON request to the API server, authenticated from a KubeConfig: every request the
// product makes (any resource by path, status subresources, explicit patch content types), sent
// with undici's `request` on the pooled transport. Responses are plain JSON, to be validated by
// the caller.
import { request } from 'undici';
import { describeApiError } from './errors.ts';
import type { KubeConfig } from './kubeconfig.ts';
import { requestSignal } from './request-scope.ts';
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

/** 429 means "not processed, come back": retried like client-go does, honouring Retry-After. */
const MAX_THROTTLE_RETRIES = 5;
const MAX_RETRY_AFTER_MS = 10_000;

export async function kubeRequest(kc: KubeConfig, request: KubeRequest): Promise<unknown> {
  const req = { ...request, signal: requestSignal(request.signal) };
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
  const { server, headers, dispatcher } = await authenticate(kc);
  const url = new URL(server + req.path);
  for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  headers.Accept = 'application/json';
  let body: string | undefined;
  if (req.body !== undefined) {
    headers['Content-Type'] = req.contentType ?? 'application/json';
    body = JSON.stringify(req.body);
  }
  // `reset: false`: undici closes the connection after a body sent with a method whose semantics
  // do not anticipate one (DELETE with DeleteOptions: preconditions, propagationPolicy) unless told
  // otherwise, so every such delete paid a new TCP connection and TLS handshake on both sides (one
  // per finished migration the history limit removed). The API server reads those bodies.
  const res = await request(url, { method: req.method, headers, body, dispatcher, signal: req.signal, reset: false });
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode > 299) {
    const retryAfter = res.headers['retry-after'];
    throw new KubeApiError(req.method, req.path, res.statusCode, text, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  }
  if (req.responseType === 'text') return text;
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}
