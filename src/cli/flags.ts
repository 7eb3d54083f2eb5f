// Flag plumbing shared by the commands: the common flag schemas, argv + environment reading, the one
// way a bad value becomes a UsageError naming the flag, and where the cluster is (--kubeconfig,
// --context) for every command that talks to one.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadKubeConfig, type KubeConfigSource } from '../kube/client.ts';
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { UsageError } from './usage-error.ts';

import { DEFAULT_NAMESPACE } from '../api/v1alpha1/constants.ts';
import { isObjectName } from '../api/validation.ts';
import { LOG_LEVELS } from '../observability/logger.ts';

/** `60s`, `1m`, `500ms`, `2h`, or a bare number of seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

/** A duration flag in milliseconds, bounded below (and optionally above). */
export const durationFlag = (min: number, max = Number.POSITIVE_INFINITY) =>
  z.string().transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined || ms < min || ms > max) {
      const range = Number.isFinite(max) ? `between ${min} ms and ${max} ms` : `of at least ${min} ms`;
      ctx.addIssue({ code: 'custom', message: `must be a duration ${range} such as 10s, 1m or 500ms, got ${JSON.stringify(s)}` });
      return z.NEVER;
    }
    return ms;
  });

export const portFlag = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a port number 0-65535')
  .transform(Number)
  .refine((n) => n <= 65535, 'must be a port number 0-65535');

export const namespaceFlag = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a valid namespace name (RFC 1123 label)')
  .default(DEFAULT_NAMESPACE);

/** --owner-configmap: the chart's ConfigMap that owns the objects a component creates at run time. */
export const ownerConfigMapFlag = z
  .string()
  .refine(isObjectName, 'must be a ConfigMap name (lowercase letters, digits, "-" and "."), e.g. mdev-operator-owner')
  .optional();

/** --context: a kubeconfig context; empty means none, as in kubectl (its current-context is used). */
export const contextFlag = z.string().optional().transform((s) => s || undefined);

export const logLevelFlag = z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info');

/**
 * Reads string flags from argv, then fills absent ones from their environment variables, then
 * validates with `schema`. The first issue becomes a UsageError that names the flag.
 */
export function parseFlags<S extends z.ZodType>(
  argv: readonly string[],
  flags: readonly string[],
  schema: S,
  envFallback: Record<string, string>,
  env: NodeJS.ProcessEnv,
): z.output<S> {
  let raw: Record<string, string | undefined>;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: Object.fromEntries(flags.map((f) => [f, { type: 'string' as const }])),
      allowPositionals: false,
      strict: true,
    });
    raw = { ...(values as Record<string, string | undefined>) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const [flag, variable] of Object.entries(envFallback)) {
    if (raw[flag] === undefined && env[variable]) raw[flag] = env[variable];
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--${String(issue?.path[0] ?? 'config')} ${issue?.message ?? 'is invalid'}`);
  }
  return parsed.data;
}

/** The usage lines of --kubeconfig and --context, with the description starting at `column`. */
export function kubeconfigUsage(column: number): string {
  const line = (flag: string, text: string) => `  ${flag.padEnd(column - 2)}${text}\n`;
  return line('--kubeconfig PATH', 'else KUBECONFIG (a path list, merged as kubectl does), else in-cluster')
    + line('--context NAME', "the kubeconfig context to use, as kubectl's (default: its current-context)");
}

/**
 * The kubeconfig named by --kubeconfig, KUBECONFIG or in-cluster, at the context named by --context
 * (else its current-context); a failure is a usage error naming the flag.
 */
export function kubeConfigFromFlags(source: KubeConfigSource): KubeConfig {
  try {
    return loadKubeConfig(source);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Resolves with the first of SIGTERM or SIGINT, so a command can stop gracefully. */
export function untilSignal(): Promise<'SIGTERM' | 'SIGINT'> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/**
 * Flags of the read-only commands (explain, plan-drain): output format, probing, where to look.
 * They run as `kubectl mdev …`, so `-n/--namespace` means what it means to kubectl (the namespace of
 * the object named), and the operator's own namespace has a flag of its own.
 */
export function parseReadOnlyFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      output: { type: 'string', short: 'o' },
      probe: { type: 'boolean', default: false },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      'operator-namespace': { type: 'string', default: DEFAULT_NAMESPACE },
    },
    allowPositionals: true,
  });
}

/** The usage line of --operator-namespace, with the description starting at `column`. */
export function operatorNamespaceUsage(column: number): string {
  return `  ${'--operator-namespace NS'.padEnd(column - 2)}where mdev-operator runs and its agents' Leases are (default ${DEFAULT_NAMESPACE})\n`;
}
