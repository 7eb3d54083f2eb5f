// The VMIM admission webhook on the local control plane (demo, tests, benchmarks): the API server
// runs on this machine, so it calls the webhook by `url` at https://127.0.0.1:<port>. Certificates
// come from the same Secret-backed keeper as in-cluster (ADR 0003); the configurations are created
// here instead of by the Helm chart. `stop()` deletes the configurations first, so nothing is left
// pointing at a closed port.
import type { KubeConfig } from '@kubernetes/client-node';
import { loggerFor } from '../observability/logger.ts';
import { admissionHandlers, deleteWebhookConfigurations, ensureWebhookConfigurations, type AdmissionHandlersOptions, type LabelSelectorRequirement } from './admission-service.ts';
import { kubeWebhookConfigApi } from './tls/ca-bundle-publisher.ts';
import { startTlsKeeper, type TlsKeeperHandle } from './tls/keeper.ts';
import { kubeTlsSecretApi } from './tls/secret-store.ts';
import { WebhookServer } from './server.ts';

const log = loggerFor('local-admission');

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
  tlsSecretName?: string;
}

export interface LocalAdmission {
  server: WebhookServer;
  configName: string;
  /** Deletes the webhook configurations, then stops TLS upkeep and the server. */
  stop(): Promise<void>;
  /** Stops only the HTTPS server (the configurations stay): what the API server sees while the operator is down. */
  closeServer(): Promise<void>;
}

export async function startLocalAdmission(o: LocalAdmissionOptions): Promise<LocalAdmission> {
  const configName = o.configName ?? 'mdev-operator-vmim';
  const secrets = kubeTlsSecretApi(o.kc, { namespace: o.namespace, name: o.tlsSecretName ?? `${configName}-tls` }, { 'app.kubernetes.io/name': 'mdev-operator' });
  const refs = [{ kind: 'MutatingWebhookConfiguration' as const, name: configName }, { kind: 'ValidatingWebhookConfiguration' as const, name: configName }];
  const tlsOptions = { secrets, webhookConfigs: kubeWebhookConfigApi(o.kc), webhookRefs: refs, identity: { service: 'mdev-operator-webhook', namespace: o.namespace, ipAddresses: ['127.0.0.1'] } };
  let server: WebhookServer | undefined;
  const keeper: TlsKeeperHandle = startTlsKeeper(tlsOptions, { intervalMs: 5 * 60_000, onMaterial: (m) => void server?.updateTls(m) });
  try {
    const pass = await keeper.tick();
    server = await WebhookServer.listen({ port: o.port ?? 0, host: '127.0.0.1', tls: pass.material, handlers: admissionHandlers(o) });
    await ensureWebhookConfigurations(o.kc, {
      name: configName,
      client: { url: `https://127.0.0.1:${server.port}` },
      caBundlePem: pass.material.caBundlePem,
      operatorNamespace: o.namespace,
      ...(o.failurePolicy ? { failurePolicy: o.failurePolicy } : {}),
      ...(o.extraNamespaceRequirements ? { extraNamespaceRequirements: o.extraNamespaceRequirements } : {}),
    });
  } catch (err) {
    keeper.stop();
    await deleteWebhookConfigurations(o.kc, configName).catch(() => undefined);
    await server?.close(0);
    throw err;
  }
  const live = server;
  log.info('Serving VMIM admission for the local control plane', { port: live.port, config: configName, mode: o.mode });
  let closed = false;
  const closeServer = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await live.close(1_000);
  };
  return {
    server: live,
    configName,
    closeServer,
    async stop() {
      await deleteWebhookConfigurations(o.kc, configName);
      keeper.stop();
      await closeServer();
    },
  };
}
