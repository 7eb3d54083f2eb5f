// How our requests reach the API server: authenticated from the KubeConfig, and sent through one
// keep-alive HTTP/1.1 undici dispatcher per KubeConfig, server and TLS material. client-node 2.x's own
// `applySecurityAuthentication` builds a fresh undici Agent for every request, so every call would
// pay a new TCP connection and TLS handshake (about 16 ms on the reference machine, most of a
// decision's latency). This is the same work done with client-node's public API (ADR 0007):
// `applyToHTTPSOptions` yields the auth headers and TLS material (exec and OIDC plugins included),
// `createDispatcherOptions` maps them to undici options as client-node would, and the request
// context gets our pooled dispatcher through `setDispatcher`.
//
// Connections speak HTTP/1.1 only. undici 8 negotiates HTTP/2 by default, and its HTTP/2 client can
// emit an 'error' no listener catches when the server closes the connection (an API server restart
// or GOAWAY), which ends the process (seen in this suite's teardown; forcedotcom/cli#3622, fixed in
// jsforce the same way). A keep-alive HTTP/1.1 pool costs one connection per concurrent request.
//
// Pool entries are matched by comparing the options field by field (Buffers with `equals`, a memcmp):
// client-node decodes fresh Buffers on every call, and hashing a serialization of them cost more
// than the rest of a request's client-side work. New material (a rotated client certificate) gets a
// new entry; at most a handful exist per KubeConfig.
import type { AgentOptions, RequestOptions } from 'node:https';
import { createConfiguration, ServerConfiguration, type KubeConfig, type RequestContext, type SecurityAuthentication } from '@kubernetes/client-node';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';

interface PoolEntry {
  server: string;
  options: Record<string, unknown>;
  dispatcher: Dispatcher;
}

/** See the header: never HTTP/2. */
const HTTP1_ONLY = { allowH2: false } as const;

/** Keyed by the KubeConfig that owns the pool (see shareConnections). */
const pools = new WeakMap<KubeConfig, PoolEntry[]>();
const interceptors = new WeakMap<KubeConfig, Dispatcher.DispatcherComposeInterceptor[]>();
/** Copies of a KubeConfig (one per component's User-Agent) and the one whose pool they use. */
const poolOwners = new WeakMap<KubeConfig, KubeConfig>();
/** Headers added to every request of a KubeConfig, after authentication (User-Agent). */
const extraHeaders = new WeakMap<KubeConfig, Record<string, string>>();

const ownerOf = (kc: KubeConfig): KubeConfig => poolOwners.get(kc) ?? kc;

/** `copy` reuses `origin`'s connections (server and TLS material are still matched per request). */
export function shareConnections(copy: KubeConfig, origin: KubeConfig): void {
  poolOwners.set(copy, ownerOf(origin));
}

/** Sends `name: value` on every request made with `kc` (raw, watch and apiClient). */
export function setRequestHeader(kc: KubeConfig, name: string, value: string): void {
  extraHeaders.set(kc, { ...extraHeaders.get(kc), [name]: value });
}

/**
 * Runs `interceptor` (undici's compose form) on every request made with `kc` and the copies sharing
 * its connections, from now on: the RBAC tests record each call's verb, path and status this way.
 * Dispatchers built earlier are dropped.
 */
export function interceptRequests(kc: KubeConfig, interceptor: Dispatcher.DispatcherComposeInterceptor): void {
  const owner = ownerOf(kc);
  interceptors.set(owner, [...(interceptors.get(owner) ?? []), interceptor]);
  pools.delete(owner);
}

/** Equal option values: Buffers by content, arrays element-wise, plain objects key-wise. */
export function sameOption(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameOption(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') return sameOptions(a as Record<string, unknown>, b as Record<string, unknown>);
  return false;
}

export function sameOptions(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && sameOption(a[k], b[k]));
}

/** The TLS fields client-node's applySecurityAuthentication hands to its dispatcher, no more. */
function tlsMaterial(o: RequestOptions): AgentOptions {
  const m: AgentOptions = { ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase };
  if (o.rejectUnauthorized !== undefined) m.rejectUnauthorized = o.rejectUnauthorized;
  if (o.servername !== undefined) m.servername = o.servername;
  return m;
}

/**
 * The pooled dispatcher for this KubeConfig's current cluster and the given TLS material, built on
 * first use from client-node's `createDispatcherOptions`. A SOCKS proxy returns null: client-node
 * keeps its connector private, so such a cluster uses client-node's own per-request dispatcher.
 */
export function pooledDispatcher(kc: KubeConfig, material: AgentOptions): Dispatcher | null {
  const cluster = kc.getCurrentCluster();
  const server = cluster?.server ?? '';
  const owner = ownerOf(kc);
  let pool = pools.get(owner);
  if (!pool) pools.set(owner, (pool = []));
  const options = material as Record<string, unknown>;
  const hit = pool.find((e) => e.server === server && sameOptions(e.options, options));
  if (hit) return hit.dispatcher;
  const o = kc.createDispatcherOptions(cluster, material);
  let dispatcher: Dispatcher;
  switch (o.type) {
    case 'agent':
      dispatcher = new Agent({ ...HTTP1_ONLY, connect: o.connect });
      break;
    case 'proxy':
      dispatcher = new ProxyAgent({ ...HTTP1_ONLY, uri: o.uri, requestTls: o.requestTls, connect: o.connect });
      break;
    case 'none':
      // client-node would leave this to undici's global dispatcher, which allows HTTP/2.
      dispatcher = new Agent(HTTP1_ONLY);
      break;
    case 'socks':
      return null;
  }
  const extra = interceptors.get(owner);
  if (extra) dispatcher = dispatcher.compose(...extra);
  pool.push({ server, options, dispatcher });
  return dispatcher;
}

/**
 * Authenticates `ctx` as client-node's `applySecurityAuthentication` does (basic auth, then the
 * headers its auth plugins produce), adds the KubeConfig's own headers and sets the pooled dispatcher.
 */
export async function authenticate(kc: KubeConfig, ctx: RequestContext): Promise<void> {
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  if (opts.auth) ctx.setHeaderParam('Authorization', `Basic ${Buffer.from(opts.auth).toString('base64')}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) ctx.setHeaderParam(k, String(v));
  const dispatcher = pooledDispatcher(kc, tlsMaterial(opts));
  if (dispatcher === null) await kc.applySecurityAuthentication(ctx);
  else ctx.setDispatcher(dispatcher);
  for (const [k, v] of Object.entries(extraHeaders.get(kc) ?? {})) ctx.setHeaderParam(k, v);
}

/** A generated API client (CoreV1Api, ...) whose requests use the pooled dispatcher. */
export function apiClient<T>(kc: KubeConfig, api: new (config: ReturnType<typeof createConfiguration>) => T): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('The kubeconfig has no current cluster: set current-context or pass --kubeconfig');
  const auth: SecurityAuthentication = { getName: () => 'mdev-operator pooled kubeconfig', applySecurityAuthentication: (ctx) => authenticate(kc, ctx) };
  return new api(createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: auth } }));
}

