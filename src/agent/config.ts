// The agent's configuration: command-line flags with environment fallbacks, validated with zod
// once at start. Any bad value is a UsageError naming the flag, so the CLI exits 2 before the
// agent touches sysfs or the API server.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { BACKENDS } from '../api/v1alpha1/constants.ts';
import { isObjectName } from '../api/validation.ts';
import { UsageError } from '../cli/usage-error.ts';

export const DEFAULT_NAMESPACE = 'mdev-operator-system';
export const DEFAULT_SYSFS_ROOT = '/host/sys';
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

export interface AgentConfig {
  nodeName: string;
  sysfsRoot: string;
  /** mdevctl definitions (the host's /etc/mdevctl.d); absent = next to a fake tree's sys/, else none. */
  mdevctlRoot?: string;
  backend: (typeof BACKENDS)[number];
  /** The vendor command of the exec backend (required with --backend exec). */
  execCommand?: string;
  /** The kubelet PodResources socket; absent = consumers are unknown (reported in logs and /readyz). */
  podResourcesSocket?: string;
  namespace: string;
  kubeconfig?: string;
  resyncIntervalMs: number;
  leaseDurationMs: number;
  leaseRenewMs: number;
  /** 0 = do not serve metrics/health (in-process fleets); otherwise the listening port. */
  metricsPort: number;
  healthPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
}

/** Flag name → environment variable consulted when the flag is absent. */
const ENV_FALLBACK: Record<string, string> = {
  'node-name': 'NODE_NAME',
  namespace: 'POD_NAMESPACE',
  'sysfs-root': 'MDEV_SYSFS_ROOT',
  'podresources-socket': 'MDEV_PODRESOURCES_SOCKET',
  'log-level': 'MDEV_LOG_LEVEL',
};

const FLAGS = [
  'node-name', 'sysfs-root', 'mdevctl-root', 'backend', 'exec-command', 'podresources-socket', 'namespace',
  'kubeconfig', 'resync-interval', 'lease-duration', 'lease-renew', 'metrics-port', 'health-port', 'log-level',
] as const;

/** `60s`, `1m`, `500ms`, `2h`, or a bare number of seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

const duration = (min: number) =>
  z.string().transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined || ms < min) {
      ctx.addIssue({ code: 'custom', message: `must be a duration of at least ${min} ms such as 60s, 1m or 500ms, got ${JSON.stringify(s)}` });
      return z.NEVER;
    }
    return ms;
  });

const port = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a port number 0-65535')
  .transform(Number)
  .refine((n) => n <= 65535, 'must be a port number 0-65535');

const schema = z.object({
  'node-name': z
    .string({ error: 'is required (or set NODE_NAME): the name of the Node this agent runs on' })
    .refine(isObjectName, 'must be a valid Node name (RFC 1123 subdomain: lowercase letters, digits, "-" and ".")'),
  'sysfs-root': z.string().min(1).default(DEFAULT_SYSFS_ROOT),
  'mdevctl-root': z.string().min(1).optional(),
  backend: z.enum(BACKENDS, { error: `must be one of ${BACKENDS.join(', ')}` }).default('sysfs'),
  'exec-command': z.string().min(1).optional(),
  'podresources-socket': z.string().min(1).optional(),
  namespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a valid namespace name (RFC 1123 label)')
    .max(63)
    .default(DEFAULT_NAMESPACE),
  kubeconfig: z.string().min(1).optional(),
  'resync-interval': duration(1000).prefault('60s'),
  'lease-duration': duration(1000).prefault('40s'),
  'lease-renew': duration(100).prefault('10s'),
  'metrics-port': port.prefault('8080'),
  'health-port': port.prefault('8081'),
  'log-level': z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
});

/** Parses argv (without the command name) and env into a validated AgentConfig; throws UsageError. */
export function parseAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const raw = readFlags(argv);
  for (const [flag, variable] of Object.entries(ENV_FALLBACK)) {
    if (raw[flag] === undefined && env[variable]) raw[flag] = env[variable];
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = String(issue?.path[0] ?? 'config');
    throw new UsageError(`--${flag} ${issue?.message ?? 'is invalid'}`);
  }
  const v = parsed.data;
  if (v.backend === 'exec' && v['exec-command'] === undefined) {
    throw new UsageError('--exec-command is required with --backend exec: the vendor command that tests a version string');
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
    podResourcesSocket: v['podresources-socket'],
    namespace: v.namespace,
    kubeconfig: v.kubeconfig,
    resyncIntervalMs: v['resync-interval'],
    leaseDurationMs: v['lease-duration'],
    leaseRenewMs: v['lease-renew'],
    metricsPort: v['metrics-port'],
    healthPort: v['health-port'],
    logLevel: v['log-level'],
  };
}

function readFlags(argv: readonly string[]): Record<string, string | undefined> {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: Object.fromEntries(FLAGS.map((f) => [f, { type: 'string' as const }])),
      allowPositionals: false,
      strict: true,
    });
    return { ...(values as Record<string, string | undefined>) };
  } catch (err) {
    // parseArgs names the flag already ("Unknown option '--nodename'"); keep its words.
    throw new UsageError((err as Error).message);
  }
}

/** Usage text of `mdev-operator agent`. */
export const AGENT_USAGE = `Usage: mdev-operator agent --node-name NODE [flags]

  --node-name NODE            Node this agent runs on (env NODE_NAME); required
  --sysfs-root DIR            host /sys as mounted in the pod (default ${DEFAULT_SYSFS_ROOT})
  --mdevctl-root DIR          host /etc/mdevctl.d, for creation parameters
  --backend sysfs|exec|simulated   compatibility backend (default sysfs)
  --exec-command PATH         vendor command for --backend exec
  --podresources-socket PATH  kubelet PodResources socket; absent = consumers unknown
  --namespace NS              operator namespace for the Lease (env POD_NAMESPACE, default ${DEFAULT_NAMESPACE})
  --kubeconfig PATH           else KUBECONFIG, else in-cluster
  --resync-interval DUR       rediscovery interval (default 60s)
  --lease-duration DUR        Lease duration (default 40s); --lease-renew DUR (default 10s)
  --metrics-port N            /metrics (default 8080); --health-port N  /healthz /readyz (default 8081)
  --log-level LEVEL           error|warn|info|debug (default info)
`;
