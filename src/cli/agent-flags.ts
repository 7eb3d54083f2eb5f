// `mdev-operator agent` flags with environment fallbacks, validated with zod once at start into an
// AgentConfig. Any bad value is a UsageError naming the flag, so the CLI exits 2 before the agent
// touches sysfs or the API server.
import { z } from 'zod';
import { BACKENDS, DEFAULT_NAMESPACE } from '../api/v1alpha1/constants.ts';
import { isObjectName } from '../api/validation.ts';
import { DEFAULT_SYSFS_ROOT, type AgentConfig } from '../agent/config.ts';
import { NVML_HELPER_PATH } from '../compat/nvml-backend.ts';
import { contextFlag, durationFlag, kubeconfigUsage, logLevelFlag, namespaceFlag, ownerConfigMapFlag, parseFlags, portFlag } from './flags.ts';
import { UsageError } from './usage-error.ts';

/** Flag name → environment variable consulted when the flag is absent. */
const ENV_FALLBACK: Record<string, string> = {
  'node-name': 'NODE_NAME',
  namespace: 'POD_NAMESPACE',
  'sysfs-root': 'MDEV_SYSFS_ROOT',
  'nvml-helper': 'MDEV_NVML_HELPER',
  'podresources-socket': 'MDEV_PODRESOURCES_SOCKET',
  'log-level': 'MDEV_LOG_LEVEL',
};

const FLAGS = [
  'node-name', 'sysfs-root', 'mdevctl-root', 'backend', 'exec-command', 'nvml-helper', 'podresources-socket', 'podresources-unready-after', 'namespace', 'owner-configmap',
  'kubeconfig', 'context', 'resync-interval', 'lease-duration', 'lease-renew', 'metrics-port', 'health-port', 'log-level',
] as const;

const schema = z.object({
  'node-name': z
    .string({ error: 'is required (or set NODE_NAME): the name of the Node this agent runs on' })
    .refine(isObjectName, 'must be a valid Node name (RFC 1123 subdomain: lowercase letters, digits, "-" and ".")'),
  'sysfs-root': z.string().min(1).default(DEFAULT_SYSFS_ROOT),
  'mdevctl-root': z.string().min(1).optional(),
  backend: z.enum(BACKENDS, { error: `must be one of ${BACKENDS.join(', ')}` }).default('sysfs'),
  'exec-command': z.string().min(1).optional(),
  'nvml-helper': z.string().min(1).optional(),
  'podresources-socket': z.string().min(1).optional(),
  'podresources-unready-after': durationFlag(1000).prefault('180s'),
  namespace: namespaceFlag,
  'owner-configmap': ownerConfigMapFlag,
  kubeconfig: z.string().min(1).optional(),
  context: contextFlag,
  'resync-interval': durationFlag(1000).prefault('60s'),
  'lease-duration': durationFlag(1000).prefault('40s'),
  'lease-renew': durationFlag(100).prefault('10s'),
  'metrics-port': portFlag.prefault('8080'),
  'health-port': portFlag.prefault('8081'),
  'log-level': logLevelFlag,
});

/** Parses argv (without the command name) and env into a validated AgentConfig; throws UsageError. */
export function parseAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const v = parseFlags(argv, FLAGS, schema, ENV_FALLBACK, env);
  if (v.backend === 'exec' && v['exec-command'] === undefined) {
    throw new UsageError('--exec-command is required with --backend exec: the vendor command that tests a version string');
  }
  if (v['nvml-helper'] !== undefined && v.backend !== 'nvml') {
    throw new UsageError(`--nvml-helper is only used with --backend nvml (the backend is ${v.backend})`);
  }
  if (v['lease-renew'] >= v['lease-duration']) {
    throw new UsageError(`--lease-renew (${v['lease-renew']} ms) must be shorter than --lease-duration (${v['lease-duration']} ms)`);
  }
  return {
    nodeName: v['node-name'],
    sysfsRoot: v['sysfs-root'],
    mdevctlRoot: v['mdevctl-root'],
    backend: v.backend,
    execCommand: v['exec-command'],
    nvmlHelper: v['nvml-helper'],
    podResourcesSocket: v['podresources-socket'],
    podResourcesUnreadyAfterMs: v['podresources-unready-after'],
    namespace: v.namespace,
    ...(v['owner-configmap'] ? { ownerConfigMap: v['owner-configmap'] } : {}),
    kubeconfig: v.kubeconfig,
    ...(v.context ? { context: v.context } : {}),
    resyncIntervalMs: v['resync-interval'],
    leaseDurationMs: v['lease-duration'],
    leaseRenewMs: v['lease-renew'],
    metricsPort: v['metrics-port'],
    healthPort: v['health-port'],
    logLevel: v['log-level'],
  };
}


/** Usage text of `mdev-operator agent`. */
export const AGENT_USAGE = `Usage: mdev-operator agent --node-name NODE [flags]

  --node-name NODE            Node this agent runs on (env NODE_NAME); required
  --sysfs-root DIR            host /sys as mounted in the pod (default ${DEFAULT_SYSFS_ROOT})
  --mdevctl-root DIR          host /etc/mdevctl.d, for creation parameters
  --backend sysfs|exec|nvml   compatibility backend (default sysfs)
  --exec-command PATH         vendor command for --backend exec
  --nvml-helper PATH          NVML helper for --backend nvml (env MDEV_NVML_HELPER, default ${NVML_HELPER_PATH})
  --podresources-socket PATH  kubelet PodResources socket; absent = consumers unknown
  --podresources-unready-after DUR  /readyz fails once PodResources has failed this long (default 180s)
  --namespace NS              operator namespace for the Lease (env POD_NAMESPACE, default ${DEFAULT_NAMESPACE})
  --owner-configmap NAME      ConfigMap in --namespace that owns the Lease, so it is deleted with the
                              release (the chart passes its own); absent = the Lease has no owner
${kubeconfigUsage(30)}  --resync-interval DUR       rediscovery interval (default 60s)
  --lease-duration DUR        Lease duration (default 40s); --lease-renew DUR (default 10s)
  --metrics-port N            /metrics (default 8080); --health-port N  /healthz /readyz (default 8081)
  --log-level LEVEL           error|warn|info|debug (default info)
`;
