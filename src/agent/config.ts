// The agent's configuration as plain values: the CLI parses flags into it (src/cli/agent-flags.ts),
// the fleet and tests build it directly.
import type { BACKENDS } from '../api/v1alpha1/constants.ts';
import type { LogLevel } from '../observability/logger.ts';

export const DEFAULT_SYSFS_ROOT = '/host/sys';
/** Three default resync intervals: one missed answer is a hiccup, three in a row are an outage. */
export const DEFAULT_PODRESOURCES_UNREADY_AFTER_MS = 180_000;

export interface AgentConfig {
  nodeName: string;
  sysfsRoot: string;
  /** mdevctl definitions (the host's /etc/mdevctl.d); absent = next to a fake tree's sys/, else none. */
  mdevctlRoot?: string;
  backend: (typeof BACKENDS)[number];
  /** The vendor command of the exec backend (required with --backend exec). */
  execCommand?: string;
  /** The NVML helper of the nvml backend (default: where the image installs it). */
  nvmlHelper?: string;
  /** The kubelet PodResources socket; absent = consumers are unknown (reported in logs and /readyz). */
  podResourcesSocket?: string;
  /** How long PodResources may fail before /readyz fails; default DEFAULT_PODRESOURCES_UNREADY_AFTER_MS. */
  podResourcesUnreadyAfterMs?: number;
  namespace: string;
  /** ConfigMap in `namespace` that owns the agent's Lease, so it is deleted with the release (src/kube/release-owner.ts). */
  ownerConfigMap?: string;
  kubeconfig?: string;
  /** The kubeconfig context to use (--context); absent = its current-context. */
  context?: string;
  resyncIntervalMs: number;
  leaseDurationMs: number;
  leaseRenewMs: number;
  /** 0 = do not serve metrics/health (in-process fleets); otherwise the listening port. */
  metricsPort: number;
  healthPort: number;
  logLevel: LogLevel;
}
