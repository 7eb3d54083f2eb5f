// `mdev-operator controller` flags, validated with zod once at start into a ControllerConfig. Any
// bad value is a UsageError naming the flag (the CLI exits 2).
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { DEFAULT_NAMESPACE, TTL_SECONDS } from '../api/v1alpha1/constants.ts';
import { DEFAULT_HISTORY_LIMIT } from '../controller/finished-migrations.ts';
import { isObjectName } from '../api/validation.ts';
import { DEFAULT_ADMISSION_RECORD_TTL_SECONDS, WEBHOOK_DEFAULTS, WEBHOOK_MODES, type ControllerConfig, type WebhookConfig } from '../controller/config.ts';
import { contextFlag, durationFlag, kubeconfigUsage, logLevelFlag, namespaceFlag, ownerConfigMapFlag, parseFlags, portFlag } from './flags.ts';
import { UsageError } from './usage-error.ts';

const FLAGS = ['kubeconfig', 'context', 'namespace', 'leader-elect', 'webhook-port', 'webhook-mode', 'webhook-url-host', 'metrics-port', 'health-port', 'log-level', 'probe-timeout', 'workers', 'identity', 'leader-elect-lease-duration', 'leader-elect-renew-deadline', 'leader-elect-retry-period', 'migration-history-limit', 'admission-record-ttl', 'target-pending-timeout', 'owner-configmap'] as const;

const WEBHOOK_ENV = { service: 'MDEV_WEBHOOK_SERVICE', secret: 'MDEV_WEBHOOK_SECRET', configuration: 'MDEV_WEBHOOK_CONFIGURATION' } as const;

const dnsName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS name (RFC 1123)');

const ENV_FALLBACK: Record<string, string> = { namespace: 'POD_NAMESPACE', identity: 'POD_NAME', 'log-level': 'MDEV_LOG_LEVEL' };

const schema = z.object({
  kubeconfig: z.string().min(1).optional(),
  context: contextFlag,
  namespace: namespaceFlag,
  'leader-elect': z.enum(['true', 'false'], { error: 'must be true or false (--leader-elect=false)' }).default('true'),
  'webhook-port': portFlag.prefault('9443'),
  'webhook-mode': z.enum(WEBHOOK_MODES, { error: `must be one of ${WEBHOOK_MODES.join(', ')}` }).default('enforce'),
  'webhook-url-host': z
    .string()
    .refine((h) => isIP(h) !== 0 || dnsName.safeParse(h).success, 'must be an IP address or a DNS name that the API server can reach, e.g. 127.0.0.1')
    .optional(),
  'metrics-port': portFlag.prefault('8080'),
  'health-port': portFlag.prefault('8081'),
  'log-level': logLevelFlag,
  'probe-timeout': durationFlag(100, 300_000).prefault('10s'),
  workers: z.string().regex(/^\d+$/, 'must be a whole number 1-64').transform(Number).refine((n) => n >= 1 && n <= 64, 'must be a whole number 1-64').prefault('8'),
  identity: z.string().min(1).max(128).optional(),
  'leader-elect-lease-duration': durationFlag(1_000, 600_000).prefault('15s'),
  'leader-elect-renew-deadline': durationFlag(500, 600_000).prefault('10s'),
  'leader-elect-retry-period': durationFlag(100, 60_000).prefault('2s'),
  'migration-history-limit': z
    .string()
    .regex(/^\d+$/, 'must be a whole number 0-1000')
    .transform(Number)
    .refine((n) => n <= 1000, 'must be a whole number 0-1000')
    .prefault(String(DEFAULT_HISTORY_LIMIT)),
  'admission-record-ttl': durationFlag(0, TTL_SECONDS.max * 1000).prefault(`${DEFAULT_ADMISSION_RECORD_TTL_SECONDS}s`),
  // Below KubeVirt's own 5 minutes for an unschedulable target pod, so the next candidate gets its turn.
  'target-pending-timeout': durationFlag(1_000, 299_000).prefault('120s'),
  'owner-configmap': ownerConfigMapFlag,
});

export function parseControllerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const v = parseFlags(argv, FLAGS, schema, ENV_FALLBACK, env);
  const webhookNames = Object.fromEntries(
    (Object.keys(WEBHOOK_ENV) as (keyof typeof WEBHOOK_ENV)[]).map((k) => {
      const value = env[WEBHOOK_ENV[k]] || WEBHOOK_DEFAULTS[k];
      if (!isObjectName(value)) throw new UsageError(`${WEBHOOK_ENV[k]}=${JSON.stringify(value)} must be a Kubernetes object name (lowercase letters, digits, '-' and '.')`);
      return [k, value];
    }),
  ) as Pick<WebhookConfig, keyof typeof WEBHOOK_ENV>;
  // client-go's rules: a leader must give up before a follower may take over, and retry in between.
  if (!(v['leader-elect-lease-duration'] > v['leader-elect-renew-deadline'] && v['leader-elect-renew-deadline'] > v['leader-elect-retry-period'])) {
    throw new UsageError('--leader-elect-lease-duration must exceed --leader-elect-renew-deadline, which must exceed --leader-elect-retry-period (defaults 15s, 10s, 2s)');
  }
  if (v['webhook-port'] !== 0 && (v['webhook-port'] === v['health-port'] || v['webhook-port'] === v['metrics-port'])) {
    throw new UsageError(`--webhook-port ${v['webhook-port']} must differ from --health-port and --metrics-port (or be 0 to disable the webhook)`);
  }
  return {
    kubeconfig: v.kubeconfig,
    ...(v.context ? { context: v.context } : {}),
    namespace: v.namespace,
    leaderElect: v['leader-elect'] === 'true',
    webhookPort: v['webhook-port'],
    webhook: { mode: v['webhook-mode'], ...(v['webhook-url-host'] ? { urlHost: v['webhook-url-host'] } : {}), ...webhookNames },
    metricsPort: v['metrics-port'],
    healthPort: v['health-port'],
    logLevel: v['log-level'],
    probeTimeoutMs: v['probe-timeout'],
    workers: v.workers,
    identity: v.identity ?? `${hostname()}-${process.pid}`,
    leaseDurationMs: v['leader-elect-lease-duration'],
    renewDeadlineMs: v['leader-elect-renew-deadline'],
    retryPeriodMs: v['leader-elect-retry-period'],
    historyLimit: v['migration-history-limit'],
    admissionRecordTtlSeconds: Math.floor(v['admission-record-ttl'] / 1000),
    targetPendingTimeoutMs: v['target-pending-timeout'],
    ...(v['owner-configmap'] ? { ownerConfigMap: v['owner-configmap'] } : {}),
  };
}

export const CONTROLLER_USAGE = `Usage: mdev-operator controller [flags]

${kubeconfigUsage(27)}  --namespace NS           operator namespace: leader Lease, agent Leases (env POD_NAMESPACE, default ${DEFAULT_NAMESPACE})
  --leader-elect=BOOL      true (default) or false; only the leader runs informers and reconcilers
  --webhook-port N         admission webhook HTTPS port, served by every replica (default 9443; 0 disables)
  --webhook-mode MODE      enforce (default): deny unsafe VMIMs; warn: admit them with a warning; off: admit all
  --webhook-url-host HOST  local control plane only: serve on HOST and create url webhook configurations
                           (in-cluster the chart creates them and the controller only patches caBundle);
                           they stay when the controller stops, so VMIMs are refused, not unchecked
  --metrics-port N         /metrics (default 8080)
  --health-port N          /healthz, /readyz (default 8081)
  --probe-timeout DUR      how long to wait for an agent's probe answer (default 10s)
  --workers N              concurrent reconciles (default 8)
  --target-pending-timeout DUR  give up a migration target whose virt-launcher pod is still Pending after
                           DUR and try the next candidate (default 120s; below KubeVirt's own 5 minutes)
  --identity NAME          leader-election identity (env POD_NAME, default hostname-pid)
  --leader-elect-lease-duration DUR  how long a follower waits before taking a silent leader's Lease (default 15s)
  --leader-elect-renew-deadline DUR  how long the leader keeps retrying a renewal before it stops leading (default 10s)
  --leader-elect-retry-period DUR    between acquire and renew attempts (default 2s)
                           A replica that stops leading exits (status 1) so its Deployment restarts it.
  --migration-history-limit N  finished MdevMigrations kept per VMI; older ones are deleted (default ${DEFAULT_HISTORY_LIMIT}, 0-1000)
  --admission-record-ttl DUR   ttlSecondsAfterFinished of the MdevMigrations the webhook records (default ${DEFAULT_ADMISSION_RECORD_TTL_SECONDS / 3600}h, at most 30 days)
  --owner-configmap NAME   ConfigMap in --namespace that owns the leader Lease and the webhook's TLS
                           Secret, so they are deleted with the release (the chart passes its own);
                           absent = they have no owner
  --log-level LEVEL        error|warn|info|debug (default info)

Environment (names depend on the Helm release; the chart sets them):
  MDEV_WEBHOOK_SERVICE        webhook Service the certificate is issued for (default ${WEBHOOK_DEFAULTS.service})
  MDEV_WEBHOOK_SECRET         Secret holding the webhook CA and certificate (default ${WEBHOOK_DEFAULTS.secret})
  MDEV_WEBHOOK_CONFIGURATION  Mutating/ValidatingWebhookConfiguration name (default ${WEBHOOK_DEFAULTS.configuration})
`;
