// `mdev-operator controller`: runs the controller manager until SIGTERM or SIGINT.
import { loadKubeConfig } from '../kube/client.ts';
import { setLogLevel } from '../observability/logger.ts';
import { CONTROLLER_USAGE, parseControllerConfig } from '../controller/config.ts';
import { startManager, type WebhookStarter } from '../controller/manager.ts';
import { UsageError } from './usage-error.ts';

/**
 * Extension point for the admission webhook (served on every replica): the webhook module sets it
 * before the command runs, e.g. `setWebhookStarter(startAdmissionWebhook)`.
 */
let webhookStarter: WebhookStarter | undefined;

export function setWebhookStarter(starter: WebhookStarter | undefined): void {
  webhookStarter = starter;
}

export async function controllerCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CONTROLLER_USAGE);
    return 0;
  }
  const config = parseControllerConfig(argv);
  setLogLevel(config.logLevel);
  let kc;
  try {
    kc = loadKubeConfig({ kubeconfig: config.kubeconfig });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const manager = await startManager({
    kc,
    namespace: config.namespace,
    leaderElect: config.leaderElect,
    identity: config.identity,
    probeTimeoutMs: config.probeTimeoutMs,
    workers: config.workers,
    healthPort: config.healthPort,
    metricsPort: config.metricsPort,
    webhookPort: config.webhookPort,
    onWebhook: webhookStarter,
  });
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  process.stderr.write(`mdev-operator controller: ${signal} received, stopping\n`);
  await manager.stop();
  return 0;
}
