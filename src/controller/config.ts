// `mdev-operator controller` flags, validated with zod once at start. Any bad value is a
// UsageError naming the flag (the CLI exits 2).
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_NAMESPACE, LOG_LEVELS, parseDuration } from '../agent/config.ts';
import { UsageError } from '../cli/usage-error.ts';

export interface ControllerConfig {
  kubeconfig?: string;
  namespace: string;
  leaderElect: boolean;
  /** 0 = no webhook server. */
  webhookPort: number;
  metricsPort: number;
  healthPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
  probeTimeoutMs: number;
  workers: number;
  /** Leader-election identity (env POD_NAME, else hostname-pid). */
  identity: string;
}

const FLAGS = ['kubeconfig', 'namespace', 'leader-elect', 'webhook-port', 'metrics-port', 'health-port', 'log-level', 'probe-timeout', 'workers', 'identity'] as const;

const ENV_FALLBACK: Record<string, string> = { namespace: 'POD_NAMESPACE', identity: 'POD_NAME', 'log-level': 'MDEV_LOG_LEVEL' };

const port = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a port number 0-65535')
  .transform(Number)
  .refine((n) => n <= 65535, 'must be a port number 0-65535');

const schema = z.object({
  kubeconfig: z.string().min(1).optional(),
  namespace: z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a valid namespace name (RFC 1123 label)').default(DEFAULT_NAMESPACE),
  'leader-elect': z.enum(['true', 'false'], { error: 'must be true or false (--leader-elect=false)' }).default('true'),
  'webhook-port': port.prefault('9443'),
  'metrics-port': port.prefault('8080'),
  'health-port': port.prefault('8081'),
  'log-level': z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  'probe-timeout': z
    .string()
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined || ms < 100 || ms > 300_000) {
        ctx.addIssue({ code: 'custom', message: `must be a duration between 100ms and 5m such as 10s, got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      return ms;
    })
    .prefault('10s'),
  workers: z.string().regex(/^\d+$/, 'must be a whole number 1-64').transform(Number).refine((n) => n >= 1 && n <= 64, 'must be a whole number 1-64').prefault('8'),
  identity: z.string().min(1).max(128).optional(),
});

export function parseControllerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  let raw: Record<string, string | undefined>;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: Object.fromEntries(FLAGS.map((f) => [f, { type: 'string' as const }])),
      allowPositionals: false,
      strict: true,
    });
    raw = { ...(values as Record<string, string | undefined>) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const [flag, variable] of Object.entries(ENV_FALLBACK)) {
    if (raw[flag] === undefined && env[variable]) raw[flag] = env[variable];
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--${String(issue?.path[0] ?? 'config')} ${issue?.message ?? 'is invalid'}`);
  }
  const v = parsed.data;
  if (v['webhook-port'] !== 0 && (v['webhook-port'] === v['health-port'] || v['webhook-port'] === v['metrics-port'])) {
    throw new UsageError(`--webhook-port ${v['webhook-port']} must differ from --health-port and --metrics-port (or be 0 to disable the webhook)`);
  }
  return {
    kubeconfig: v.kubeconfig,
    namespace: v.namespace,
    leaderElect: v['leader-elect'] === 'true',
    webhookPort: v['webhook-port'],
    metricsPort: v['metrics-port'],
    healthPort: v['health-port'],
    logLevel: v['log-level'],
    probeTimeoutMs: v['probe-timeout'],
    workers: v.workers,
    identity: v.identity ?? `${hostname()}-${process.pid}`,
  };
}

export const CONTROLLER_USAGE = `Usage: mdev-operator controller [flags]

  --kubeconfig PATH        else KUBECONFIG, else in-cluster
  --namespace NS           operator namespace: leader Lease, agent Leases (env POD_NAMESPACE, default ${DEFAULT_NAMESPACE})
  --leader-elect=BOOL      true (default) or false; only the leader runs informers and reconcilers
  --webhook-port N         admission webhook HTTPS port (default 9443; 0 disables)
  --metrics-port N         /metrics (default 8080)
  --health-port N          /healthz, /readyz (default 8081)
  --probe-timeout DUR      how long to wait for an agent's probe answer (default 10s)
  --workers N              concurrent reconciles (default 8)
  --identity NAME          leader-election identity (env POD_NAME, default hostname-pid)
  --log-level LEVEL        error|warn|info|debug (default info)
`;
