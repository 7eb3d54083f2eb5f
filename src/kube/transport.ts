// How our requests reach the API server: authenticated from the KubeConfig, and sent through one
// keep-alive HTTP/1.1 undici dispatcher per KubeConfig, server and TLS material (ADR 0007). A fresh
// connection per request would pay a TCP connection and TLS handshake every time (about 16 ms on
// the reference machine, most of a decision's latency). `applyToHTTPSOptions` of the KubeConfig
// (ours, kubeconfig.ts; or client-node's in tests and dev tools) yields the auth headers and TLS
// material; the dispatcher is built here from that material, as client-node 2.0.1's
// `createDispatcherOptions` maps it (keep-alive probes after 30 s, an HTTP(S) proxy through undici's
// ProxyAgent), so no request loads client-node (ADR 0018).
//
// Connections speak HTTP/1.1 only. undici 8 negotiates HTTP/2 by default, and its HTTP/2 client can
// emit an 'error' no listener catches when the server closes the connection (an API server restart
// or GOAWAY), which ends the process (seen in this suite's teardown; forcedotcom/cli#3622, fixed in
// jsforce the same way). A keep-alive HTTP/1.1 pool costs one connection per concurrent request.
//
// Pool entries are matched by comparing the options field by field (Buffers with `equals`, a memcmp):
// the KubeConfig reads fresh Buffers on every call, and hashing a serialization of them cost more
// than the rest of a request's client-side work. New material (a rotated client certificate) gets a
// new entry; at most a handful exist per KubeConfig.
import type { AgentOptions, RequestOptions } from 'node:https';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import type { Cluster, KubeConfig } from './kubeconfig.ts';

interface PoolEntry {
  server: string;
  options: Record<string, unknown>;
  dispatcher: Dispatcher;
}

/**
 * Never HTTP/2 (see the header), and idle connections kept 30 s instead of undici's 4 s: decisions
 * come seconds apart, and a cold one sends ~20 requests at once, each of which would otherwise pay
 * a new TLS handshake after a pause of 4 s. kube-apiserver closes idle connections after 90 s, and
 * client-go keeps them as long; 30 s stays well inside that, so a reused connection is never one the
 * server is closing.
 */
export const POOL_OPTIONS = { allowH2: false, keepAliveTimeout: 30_000 } as const;

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

/** Sends `name: value` on every request made with `kc` (raw and watch). */
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

/** Keep-alive probes as client-node 2.0.1 (and client-go) set them: below cloud load balancers' 60 s idle timeouts. */
const KEEP_ALIVE = { keepAlive: true, keepAliveInitialDelay: 30_000 } as const;

/** A new HTTP/1.1 dispatcher for `cluster` and TLS `material` (client-node's createDispatcherOptions mapping). */
function newDispatcher(cluster: Cluster | null, material: AgentOptions): Dispatcher {
  const tls = Object.fromEntries(Object.entries(material).filter(([, v]) => v !== undefined));
  const proxy = cluster?.proxyUrl;
  if (proxy?.startsWith('socks')) {
    throw new Error(`The kubeconfig's cluster ${cluster?.name} uses the SOCKS proxy ${proxy}, which mdev-operator does not support: use an HTTP(S) proxy-url or none`);
  }
  if (proxy) return new ProxyAgent({ ...POOL_OPTIONS, uri: proxy, requestTls: tls, connect: { ...KEEP_ALIVE } });
  // Without TLS material client-node would leave this to undici's global dispatcher, which allows HTTP/2.
  if (Object.keys(tls).length === 0) return new Agent(POOL_OPTIONS);
  return new Agent({ ...POOL_OPTIONS, connect: { ...tls, ...KEEP_ALIVE } });
}

/** The pooled dispatcher for this KubeConfig's current cluster and the given TLS material, built on first use. */
export function pooledDispatcher(kc: KubeConfig, material: AgentOptions): Dispatcher {
  const cluster = kc.getCurrentCluster();
  const server = cluster?.server ?? '';
  const owner = ownerOf(kc);
  let pool = pools.get(owner);
  if (!pool) pools.set(owner, (pool = []));
  const options = material as Record<string, unknown>;
  const hit = pool.find((e) => e.server === server && sameOptions(e.options, options));
  if (hit) return hit.dispatcher;
  let dispatcher = newDispatcher(cluster, material);
  const extra = interceptors.get(owner);
  if (extra) dispatcher = dispatcher.compose(...extra);
  pool.push({ server, options, dispatcher });
  return dispatcher;
}

/** What a request needs: the server's base URL, the headers that authenticate it, and the pooled dispatcher. */
export interface Authenticated {
  server: string;
  headers: Record<string, string>;
  dispatcher: Dispatcher;
}

/**
 * Authenticates a request as client-node's `applySecurityAuthentication` does (basic auth, then the
 * headers of the KubeConfig, its auth plugins' included), adds the KubeConfig's own headers
 * (User-Agent) and picks the pooled dispatcher.
 */
export async function authenticate(kc: KubeConfig): Promise<Authenticated> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('The kubeconfig has no current cluster: set current-context or pass --kubeconfig');
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers: Record<string, string> = {};
  if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
  Object.assign(headers, extraHeaders.get(kc));
  return { server: cluster.server.replace(/\/$/, ''), headers, dispatcher: pooledDispatcher(kc, tlsMaterial(opts)) };
}
