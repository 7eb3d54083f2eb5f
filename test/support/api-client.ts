// client-node's generated API classes (CoreV1Api, ...) on our pooled transport, for tests and
// benchmarks that want typed calls. The product never uses them: importing the generated surface
// costs ~50 MiB RSS (ADR 0018), so src/ sends every request through kubeRequest.
import { createConfiguration, ServerConfiguration, type SecurityAuthentication } from '@kubernetes/client-node';
import type { KubeConfig } from '../../src/kube/kubeconfig.ts';
import { authenticate } from '../../src/kube/transport.ts';

/** A generated API client whose requests are authenticated and sent like kubeRequest's (headers, pool, User-Agent). */
export function apiClient<T>(kc: KubeConfig, api: new (config: ReturnType<typeof createConfiguration>) => T): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('The kubeconfig has no current cluster: set current-context or pass --kubeconfig');
  const auth: SecurityAuthentication = {
    getName: () => 'mdev-operator pooled kubeconfig',
    async applySecurityAuthentication(ctx) {
      const { headers, dispatcher } = await authenticate(kc);
      for (const [k, v] of Object.entries(headers)) ctx.setHeaderParam(k, v);
      ctx.setDispatcher(dispatcher);
    },
  };
  return new api(createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: auth } }));
}
