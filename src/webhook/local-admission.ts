// The VMIM admission webhook on the local control plane (demo, tests, benchmarks): the API server
// runs on this machine, so it calls the webhook by `url` at https://127.0.0.1:<port>. This is the
// controller's own webhook code path (admission-webhook.ts) with `urlHost` set and test-friendly
// defaults; `stop()` deletes the configurations first (removeConfigurationsOnStop, on by default
// here, unlike `mdev-operator controller --webhook-url-host`), so a test leaves nothing behind.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { DEFAULT_WEBHOOK_CONFIG_NAME, type AdmissionHandlersOptions, type LabelSelectorRequirement } from './admission-service.ts';
import { DEFAULT_WEBHOOK_SERVICE, startAdmissionWebhook, type AdmissionWebhook } from './admission-webhook.ts';

export const LOCAL_WEBHOOK_HOST = '127.0.0.1';

export interface LocalAdmissionOptions extends Omit<AdmissionHandlersOptions, 'kc'> {
  kc: KubeConfig;
  /** Operator namespace: holds the TLS Secret and is exempt from the webhook. */
  namespace: string;
  /** Configuration name (default mdev-operator-vmim); tests use a unique one. */
  configName?: string;
  /** 0 = any free port. */
  port?: number;
  failurePolicy?: 'Fail' | 'Ignore';
  extraNamespaceRequirements?: LabelSelectorRequirement[];
  /** Default `<configName>-tls`. */
  tlsSecretName?: string;
  /** Default true: a test or demo removes its gate when it stops. */
  removeConfigurationsOnStop?: boolean;
}

export type LocalAdmission = AdmissionWebhook;

export async function startLocalAdmission(o: LocalAdmissionOptions): Promise<LocalAdmission> {
  const configName = o.configName ?? DEFAULT_WEBHOOK_CONFIG_NAME;
  return startAdmissionWebhook({
    ...o,
    port: o.port ?? 0,
    configName,
    secretName: o.tlsSecretName ?? `${configName}-tls`,
    serviceName: DEFAULT_WEBHOOK_SERVICE,
    urlHost: LOCAL_WEBHOOK_HOST,
    removeConfigurationsOnStop: o.removeConfigurationsOnStop ?? true,
  });
}
