// `mdev-operator controller`: runs the controller manager until SIGTERM or SIGINT. Every replica
// serves the admission webhook (unless --webhook-port 0); only the leader reconciles.
import { setLogLevel } from '../observability/logger.ts';
import type { ControllerConfig } from '../controller/config.ts';
import { parseControllerConfig } from './controller-flags.ts';
import { startManager, type ManagerOptions } from '../controller/manager.ts';
import { admissionWebhookStarter } from '../webhook/admission-webhook.ts';
import { kubeConfigFromFlags, untilSignal } from './flags.ts';

/** The manager's webhook option for a parsed config (absent when --webhook-port is 0). */
export function webhookOption(config: ControllerConfig): ManagerOptions['webhook'] {
  if (config.webhookPort === 0) return undefined;
  const w = config.webhook;
  return {
    port: config.webhookPort,
    start: admissionWebhookStarter({
      mode: w.mode,
      configName: w.configuration,
      secretName: w.secret,
      serviceName: w.service,
      ...(w.urlHost ? { urlHost: w.urlHost } : {}),
      ...(config.ownerConfigMap ? { ownerConfigMap: config.ownerConfigMap } : {}),
      recordTtlSeconds: config.admissionRecordTtlSeconds,
    }),
  };
}

export async function controllerCommand(argv: string[]): Promise<number> {
  const config = parseControllerConfig(argv);
  setLogLevel(config.logLevel);
  const kc = kubeConfigFromFlags({ kubeconfig: config.kubeconfig, context: config.context });
  const manager = await startManager({
    kc,
    namespace: config.namespace,
    leaderElect: config.leaderElect,
    identity: config.identity,
    probeTimeoutMs: config.probeTimeoutMs,
    workers: config.workers,
    healthPort: config.healthPort,
    metricsPort: config.metricsPort,
    webhook: webhookOption(config),
    leaseDurationMs: config.leaseDurationMs,
    renewDeadlineMs: config.renewDeadlineMs,
    retryPeriodMs: config.retryPeriodMs,
    targetPendingTimeoutMs: config.targetPendingTimeoutMs,
    historyLimit: config.historyLimit,
    ...(config.ownerConfigMap ? { ownerConfigMap: config.ownerConfigMap } : {}),
  });
  // A lost leader Lease does not end the process (client-go's controllers exit): the manager stops
  // reconciling, keeps serving the webhook and campaigns again (docs/adr/0009).
  const ended = await untilSignal();
  process.stderr.write(`mdev-operator controller: ${ended} received, stopping\n`);
  await manager.stop();
  return 0;
}
