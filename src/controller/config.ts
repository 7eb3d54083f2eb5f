// The controller's configuration as plain values: the CLI parses flags into it
// (src/cli/controller-flags.ts), tests and benchmarks build it directly.
import type { LogLevel } from '../observability/logger.ts';

export interface ControllerConfig {
  kubeconfig?: string;
  /** The kubeconfig context to use (--context); absent = its current-context. */
  context?: string;
  namespace: string;
  leaderElect: boolean;
  /** 0 = no webhook server. */
  webhookPort: number;
  webhook: WebhookConfig;
  metricsPort: number;
  healthPort: number;
  logLevel: LogLevel;
  probeTimeoutMs: number;
  workers: number;
  /** Leader-election identity (env POD_NAME, else hostname-pid). */
  identity: string;
  /** client-go's leader-election timings (defaults 15 s / 10 s / 2 s). */
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Finished MdevMigrations kept per VMI. */
  historyLimit: number;
  /** spec.ttlSecondsAfterFinished of the records the webhook creates. */
  admissionRecordTtlSeconds: number;
  /** A migration target pod Pending this long is given up for the next candidate. */
  targetPendingTimeoutMs: number;
  /** ConfigMap in `namespace` owning the leader Lease and the webhook TLS Secret (deleted with the release). */
  ownerConfigMap?: string;
}

/** How long a record of an admitted VMIM stays once finished, unless --admission-record-ttl says otherwise. */
export const DEFAULT_ADMISSION_RECORD_TTL_SECONDS = 86_400;

/** How the webhook is served; names of the objects the chart creates (they depend on the Helm release). */
export interface WebhookConfig {
  mode: (typeof WEBHOOK_MODES)[number];
  /** Set for a local control plane: serve on this host and create `url` webhook configurations. */
  urlHost?: string;
  service: string;
  secret: string;
  configuration: string;
}

export const WEBHOOK_MODES = ['enforce', 'warn', 'off'] as const;

/** Names of the webhook's objects when the environment does not give them (the chart's defaults). */
export const WEBHOOK_DEFAULTS = { service: 'mdev-operator-webhook', secret: 'mdev-operator-webhook-tls', configuration: 'mdev-operator' } as const;
