// The VMIM admission webhook of one controller replica: the TLS keeper (CA and serving certificate
// in a Secret shared by all replicas, ADR 0003), the HTTPS server and the admission handlers over
// the replica's caches. One code path for both environments:
//  - in-cluster (no `urlHost`): the Helm chart renders the Mutating/ValidatingWebhookConfigurations
//    with a `service` reference; the keeper only patches their caBundle;
//  - local control plane (`urlHost`, e.g. 127.0.0.1): the API server calls https://<urlHost>:<port>,
//    so this process creates the `url` configurations itself. A graceful stop leaves them in place
//    (failurePolicy Fail keeps refusing VMIMs while nothing serves them, as in-cluster, ADR 0005):
//    removing the gate on SIGTERM would admit every VMIM unverified until the next start (issue 18).
//    Only `removeConfigurationsOnStop` (tests, the demo) deletes them, and only while they still
//    call this process.
import { isIP } from 'node:net';
import type { KubeConfig } from '../kube/kubeconfig.ts';
import type { WebhookStarter } from '../controller/services.ts';
import { configMapOwner } from '../kube/release-owner.ts';
import { loggerFor } from '../observability/logger.ts';
import { admissionHandlers, deleteWebhookConfigurations, ensureWebhookConfigurations, type AdmissionHandlersOptions, type LabelSelectorRequirement } from './admission-service.ts';
import { WebhookServer } from './server.ts';
import { kubeWebhookConfigApi } from './tls/ca-bundle-publisher.ts';
import { DEFAULT_TLS_CHECK_INTERVAL_MS, startTlsKeeper, type TlsKeeperHandle } from './tls/keeper.ts';
import { kubeTlsSecretApi } from './tls/secret-store.ts';

const log = loggerFor('admission-webhook');

/** Names the chart gives these objects for release `mdev-operator` (env MDEV_WEBHOOK_* override them). */
export const DEFAULT_WEBHOOK_SERVICE = 'mdev-operator-webhook';
export const DEFAULT_WEBHOOK_SECRET = 'mdev-operator-webhook-tls';
export const DEFAULT_WEBHOOK_CONFIGURATION = 'mdev-operator';

export interface AdmissionWebhookOptions extends Omit<AdmissionHandlersOptions, 'kc'> {
  kc: KubeConfig;
  /** Operator namespace: holds the TLS Secret and is exempt from the webhook. */
  namespace: string;
  /** 0 = any free port. */
  port: number;
  /** Name of both webhook configurations. */
  configName: string;
  /** TLS Secret (create-if-absent, shared by the replicas). */
  secretName: string;
  /** Service the certificate is valid for (`<service>.<namespace>.svc`). */
  serviceName: string;
  /** ConfigMap in `namespace` that owns the TLS Secret, so it is deleted with the release (src/kube/release-owner.ts). */
  ownerConfigMap?: string;
  /** Local control plane: the host the API server calls; this process then owns `url` configurations. */
  urlHost?: string;
  /** Only with urlHost (in-cluster the chart sets them). */
  failurePolicy?: 'Fail' | 'Ignore';
  /** urlHost mode: delete the configurations on a graceful stop (default false: the gate stays closed). */
  removeConfigurationsOnStop?: boolean;
  extraNamespaceRequirements?: LabelSelectorRequirement[];
  tlsCheckIntervalMs?: number;
}

export interface AdmissionWebhook {
  server: WebhookServer;
  port: number;
  configName: string;
  /** The registered base URL (urlHost mode only). */
  url?: string;
  /** TLS loaded and the server listening. */
  ready(): boolean;
  /** Stops only the HTTPS server (the configurations stay): what the API server sees while the operator is down. */
  closeServer(): Promise<void>;
  /** Stops TLS upkeep and the server; with `removeConfigurationsOnStop`, first deletes url configurations that still point here. */
  stop(): Promise<void>;
}

function urlOf(host: string, port: number): string {
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

export async function startAdmissionWebhook(o: AdmissionWebhookOptions): Promise<AdmissionWebhook> {
  const owner = o.ownerConfigMap ? configMapOwner(o.kc, o.namespace, o.ownerConfigMap) : undefined;
  const secrets = kubeTlsSecretApi(o.kc, { namespace: o.namespace, name: o.secretName }, { 'app.kubernetes.io/name': 'mdev-operator' }, owner);
  const refs = [{ kind: 'MutatingWebhookConfiguration' as const, name: o.configName }, { kind: 'ValidatingWebhookConfiguration' as const, name: o.configName }];
  const host = o.urlHost;
  const identity = {
    service: o.serviceName,
    namespace: o.namespace,
    ...(host && isIP(host) ? { ipAddresses: [host] } : {}),
    ...(host && !isIP(host) ? { extraDnsNames: [host] } : {}),
  };
  let server: WebhookServer | undefined;
  const keeper: TlsKeeperHandle = startTlsKeeper(
    { secrets, webhookConfigs: kubeWebhookConfigApi(o.kc), webhookRefs: refs, identity },
    { intervalMs: o.tlsCheckIntervalMs ?? DEFAULT_TLS_CHECK_INTERVAL_MS, onMaterial: (m) => void server?.updateTls(m) },
  );
  let url: string | undefined;
  try {
    const pass = await keeper.tick();
    server = await WebhookServer.listen({ port: o.port, host: host ?? '0.0.0.0', tls: pass.material, handlers: admissionHandlers(o) });
    if (host) {
      url = urlOf(host, server.port);
      await ensureWebhookConfigurations(o.kc, {
        name: o.configName,
        client: { url },
        caBundlePem: pass.material.caBundlePem,
        operatorNamespace: o.namespace,
        ...(o.failurePolicy ? { failurePolicy: o.failurePolicy } : {}),
        ...(o.extraNamespaceRequirements ? { extraNamespaceRequirements: o.extraNamespaceRequirements } : {}),
      });
    }
  } catch (err) {
    keeper.stop();
    if (url) await deleteWebhookConfigurations(o.kc, o.configName, url).catch(() => undefined);
    await server?.close(0);
    throw err;
  }
  const live = server;
  log.info('Serving VMIM admission', { port: live.port, config: o.configName, mode: o.mode, ...(url ? { url } : { service: `${o.namespace}/${o.serviceName}` }) });
  let closed = false;
  const closeServer = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await live.close(1_000);
  };
  return {
    server: live,
    port: live.port,
    configName: o.configName,
    ...(url ? { url } : {}),
    ready: () => !closed,
    closeServer,
    async stop() {
      // Configurations first (when asked to remove them), so the API server never calls a closed port.
      if (url && o.removeConfigurationsOnStop === true) await deleteWebhookConfigurations(o.kc, o.configName, url);
      keeper.stop();
      await closeServer();
    },
  };
}

/** The webhook as the controller manager starts it on every replica (WebhookStarter). */
export function admissionWebhookStarter(cfg: Omit<AdmissionWebhookOptions, 'kc' | 'namespace' | 'port' | 'caches' | 'decision'>): WebhookStarter {
  return async (deps) => {
    const w = await startAdmissionWebhook({ ...cfg, kc: deps.kc, namespace: deps.namespace, port: deps.port, caches: deps.caches, decision: deps.decisions });
    return { port: w.port, ready: w.ready, close: w.stop };
  };
}
