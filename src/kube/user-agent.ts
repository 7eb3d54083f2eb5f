// Every component names itself to the API server with its own User-Agent, so the API server's audit
// log can count each component's requests (the operator's own API cost, apart from KubeVirt's and
// the agents'). A component gets a view of its KubeConfig that sends its name on every request
// (raw requests and watches: transport.ts adds the header) and shares the original's keep-alive
// connections.
import type { KubeConfig } from './kubeconfig.ts';
import { setRequestHeader, shareConnections } from './transport.ts';

export const USER_AGENT_HEADER = 'User-Agent';
const PRODUCT_VERSION = '0.1.0';

/** The operator's components as the API server sees them (audit `userAgent`). */
export const USER_AGENTS = {
  controller: `mdev-operator-controller/${PRODUCT_VERSION}`,
  agent: `mdev-operator-agent/${PRODUCT_VERSION}`,
  cli: `mdev-operator-cli/${PRODUCT_VERSION}`,
} as const;

/** A view of `kc` whose every request carries `userAgent`; `kc` itself is unchanged. */
export function withUserAgent(kc: KubeConfig, userAgent: string): KubeConfig {
  const view: KubeConfig = {
    getCurrentCluster: () => kc.getCurrentCluster(),
    applyToHTTPSOptions: (opts) => kc.applyToHTTPSOptions(opts),
  };
  shareConnections(view, kc);
  setRequestHeader(view, USER_AGENT_HEADER, userAgent);
  return view;
}
