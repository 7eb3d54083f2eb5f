// client-node 2.x builds a fresh undici Agent for every request, so every API call pays a new TCP
// connection and TLS handshake (about 16 ms each on the reference machine, most of a decision's
// latency). This installs a cache so requests made through the same KubeConfig with the same TLS
// material share one keep-alive Agent. The patched method is private in the typings, hence the cast;
// the behaviour is otherwise unchanged (same options, same Agent type). Imported for its effect.
import { createHash } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';

type CreateDispatcher = (cluster: unknown, agentOptions: Record<string, unknown>) => unknown;
const proto = KubeConfig.prototype as unknown as { createDispatcher: CreateDispatcher; __mdevPooled?: boolean };

if (!proto.__mdevPooled) {
  const original = proto.createDispatcher;
  const pools = new WeakMap<KubeConfig, Map<string, unknown>>();
  proto.createDispatcher = function (this: KubeConfig, cluster, agentOptions) {
    const key = createHash('sha256')
      .update(JSON.stringify([(cluster as { server?: string } | null)?.server, agentOptions], (_k, v: unknown) =>
        Buffer.isBuffer(v) ? v.toString('base64') : v))
      .digest('hex');
    let pool = pools.get(this);
    if (!pool) pools.set(this, (pool = new Map()));
    if (!pool.has(key)) pool.set(key, original.call(this, cluster, agentOptions));
    return pool.get(key);
  };
  proto.__mdevPooled = true;
}
