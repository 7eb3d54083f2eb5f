// `mdev-operator fleet`: N STAND-IN nodes in one process (fake sysfs, simulated vendor drivers, the
// real agent code, a kubelet stand-in) plus the KubeVirt simulator, until SIGTERM or SIGINT.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_NAMESPACE } from '../../src/api/v1alpha1/constants.ts';
import { parseDuration } from '../../src/cli/flags.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { LOG_LEVELS, setLogLevel } from '../../src/observability/logger.ts';
import { BUILTIN_PROFILES } from '../sim/fleet/profile.ts';
import { fleetSpecs, startFleet } from '../sim/fleet/fleet.ts';
import { UsageError } from '../../src/cli/usage-error.ts';

export const FLEET_USAGE = `Usage: mdev-operator fleet [flags]   (simulated STAND-IN nodes running the real agent)

  --nodes N              number of nodes; the profile's node groups are cycled (default: the profile's counts)
  --profile NAME|FILE    built-in profile (${Object.keys(BUILTIN_PROFILES).join(', ')}) or a JSON profile file (default demo)
  --prefix P             node name prefix (default sim)
  --namespace NS         operator namespace for the agent Leases (env POD_NAMESPACE, default ${DEFAULT_NAMESPACE})
  --kubevirt=BOOL        run the KubeVirt simulator (default true)
  --step-delay DUR       pause between simulated VMIM phases (default 100ms)
  --nvidia-backend B     NVIDIA-only nodes: nvml (the real nvml backend over a stand-in NVIDIA driver, default)
                         or simulated (the nvidia-branch policy over sysfs)
  --delete-nodes=BOOL    delete the Node objects on exit (default true)
  --kubeconfig PATH      else KUBECONFIG
  --log-level LEVEL      error|warn|info|debug (default info)
`;

const bool = (name: string) => z.enum(['true', 'false'], { error: `must be true or false (--${name}=false)` });

const schema = z.object({
  nodes: z.string().regex(/^\d+$/, 'must be a whole number 1-10000').transform(Number).refine((n) => n >= 1 && n <= 10_000, 'must be a whole number 1-10000').optional(),
  profile: z.string().min(1).default('demo'),
  prefix: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits and "-"').max(40).default('sim'),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a valid namespace name').max(63).default(DEFAULT_NAMESPACE),
  kubevirt: bool('kubevirt').default('true'),
  'step-delay': z
    .string()
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `must be a duration such as 100ms or 1s, got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      return ms;
    })
    .prefault('100ms'),
  'delete-nodes': bool('delete-nodes').default('true'),
  'nvidia-backend': z.enum(['nvml', 'simulated'], { error: 'must be nvml or simulated' }).default('nvml'),
  kubeconfig: z.string().min(1).optional(),
  'log-level': z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
});

function readProfile(value: string): string | unknown {
  if (value in BUILTIN_PROFILES) return value;
  try {
    return JSON.parse(readFileSync(value, 'utf8')) as unknown;
  } catch (err) {
    throw new UsageError(`--profile ${value} is neither a built-in profile (${Object.keys(BUILTIN_PROFILES).join(', ')}) nor a readable JSON file: ${(err as Error).message}`);
  }
}

export async function fleetCommand(argv: string[]): Promise<number> {
  let raw: Record<string, string | undefined>;
  try {
    const { values } = parseArgs({ args: argv, options: Object.fromEntries(Object.keys(schema.shape).map((k) => [k, { type: 'string' as const }])), strict: true, allowPositionals: false });
    raw = { ...(values as Record<string, string | undefined>) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (raw.namespace === undefined && process.env.POD_NAMESPACE) raw.namespace = process.env.POD_NAMESPACE;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--${String(issue?.path[0] ?? 'config')} ${issue?.message ?? 'is invalid'}`);
  }
  const v = parsed.data;
  setLogLevel(v['log-level']);
  const profile = readProfile(v.profile) as Parameters<typeof fleetSpecs>[0]['profile'];
  try {
    fleetSpecs({ profile, nodes: v.nodes, prefix: v.prefix });
  } catch (err) {
    throw new UsageError(`--profile ${v.profile}: ${(err as Error).message}`);
  }
  let kc;
  try {
    kc = loadKubeConfig({ kubeconfig: v.kubeconfig });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const fleet = await startFleet({
    kc,
    namespace: v.namespace,
    profile,
    nodes: v.nodes,
    prefix: v.prefix,
    kubevirt: v.kubevirt === 'true' ? { stepDelayMs: v['step-delay'] } : false,
    nvidiaBackend: v['nvidia-backend'],
  });
  for (const spec of fleet.specs) {
    const gpus = spec.gpus.map((g) => `${g.devices}x ${g.typeId} (${g.vendor === 'nvidia' ? `${g.board} ${g.hostDriver}` : 'GVT-g'})`).join(', ');
    process.stdout.write(`${spec.name.padEnd(24)} ${spec.agent ? 'agent' : 'no agent'}${spec.unschedulable ? ', cordoned' : ''}  ${gpus || 'no GPU'}\n`);
  }
  process.stdout.write(`fleet of ${fleet.specs.length} stand-in node(s) running; Ctrl-C to stop\n`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  process.stderr.write(`mdev-operator fleet: ${signal} received, stopping\n`);
  await fleet.stop({ deleteNodes: v['delete-nodes'] === 'true' });
  return 0;
}
