// Every component names itself to the API server with its own User-Agent, so the API server's audit
// log can count each component's requests (the operator's own API cost, apart from KubeVirt's and
// the agents'). client-node sends `kubernetes-client-javascript/<version>` for every client; a
// component gets a copy of its KubeConfig that sends its name instead on every request path we use:
// raw requests, watches and generated clients from apiClient (transport.ts adds the header), and,
// for code that still goes through client-node itself, its applySecurityAuthentication and
// makeApiClient. The copy shares the original's keep-alive connections.
import { KubeConfig } from '@kubernetes/client-node';
import { apiClient, setRequestHeader, shareConnections } from './transport.ts';

export const USER_AGENT_HEADER = 'User-Agent';
const PRODUCT_VERSION = '0.1.0';

/** The operator's components as the API server sees them (audit `userAgent`). */
export const USER_AGENTS = {
  controller: `mdev-operator-controller/${PRODUCT_VERSION}`,
  agent: `mdev-operator-agent/${PRODUCT_VERSION}`,
  cli: `mdev-operator-cli/${PRODUCT_VERSION}`,
} as const;

/** A copy of `kc` whose every request carries `userAgent`; `kc` itself is unchanged. */
export function withUserAgent(kc: KubeConfig, userAgent: string): KubeConfig {
  const copy = new KubeConfig();
  copy.loadFromOptions({ clusters: kc.clusters, users: kc.users, contexts: kc.contexts, currentContext: kc.getCurrentContext() });
  shareConnections(copy, kc);
  setRequestHeader(copy, USER_AGENT_HEADER, userAgent);
  const authenticate = copy.applySecurityAuthentication.bind(copy);
  copy.applySecurityAuthentication = async (context) => {
    await authenticate(context);
    context.setHeaderParam(USER_AGENT_HEADER, userAgent);
  };
  copy.makeApiClient = (apiClientType) => apiClient(copy, apiClientType);
  return copy;
}
