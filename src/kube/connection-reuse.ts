// client-node 2.x builds a fresh undici Agent for every request, so every API call pays a new TCP
// connection and TLS handshake (about 16 ms each on the reference machine, most of a decision's
// latency). This installs a cache so requests made through the same KubeConfig with the same TLS
// material share one keep-alive Agent. The patched method is private in the typings, hence the cast;
// the behaviour is otherwise unchanged (same options, same Agent type). Imported for its effect.
//
// The lookup runs on every request, and client-node hands over freshly decoded Buffers each time,
// so entries are matched by comparing the options field by field (Buffers with `equals`, a memcmp)
// instead of hashing a serialization of them (which cost more than the rest of the request's
// client-side work).
import { KubeConfig } from '@kubernetes/client-node';

type CreateDispatcher = (cluster: unknown, agentOptions: Record<string, unknown>) => unknown;
const proto = KubeConfig.prototype as unknown as { createDispatcher: CreateDispatcher; __mdevPooled?: boolean };

interface PoolEntry {
  server: unknown;
  options: Record<string, unknown>;
  dispatcher: unknown;
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

/** Copies of a KubeConfig (e.g. one per component's User-Agent) and the one whose pool they use. */
const poolOwners = new WeakMap<KubeConfig, KubeConfig>();

/** `copy` reuses `origin`'s connections (same server and TLS material is still checked per request). */
export function shareConnections(copy: KubeConfig, origin: KubeConfig): void {
  poolOwners.set(copy, poolOwners.get(origin) ?? origin);
}

if (!proto.__mdevPooled) {
  const original = proto.createDispatcher;
  const pools = new WeakMap<KubeConfig, PoolEntry[]>();
  proto.createDispatcher = function (this: KubeConfig, cluster, agentOptions) {
    const server = (cluster as { server?: string } | null)?.server;
    const owner = poolOwners.get(this) ?? this;
    let pool = pools.get(owner);
    if (!pool) pools.set(owner, (pool = []));
    const hit = pool.find((e) => e.server === server && sameOptions(e.options, agentOptions));
    if (hit) return hit.dispatcher;
    const entry = { server, options: agentOptions, dispatcher: original.call(this, cluster, agentOptions) };
    pool.push(entry);
    return entry.dispatcher;
  };
  proto.__mdevPooled = true;
}
