// Wiring of the VMIM admission webhook: the handlers for `/mutate-vmim` and `/validate-vmim` built
// from the controller's caches and decision service, and the admissionregistration.k8s.io/v1
// configurations that make the API server call them — with a `service` reference in-cluster, or a
// `url` for the local control plane. Policy choices (failurePolicy, selectors, timeout) are
// explained in docs/adr/0005-webhook-failure-policy.md.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { isAlreadyExists, isConflict, isNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { CapacityClaims, type ControllerCaches, type DecisionService } from '../controller/services.ts';
import { loggerFor } from '../observability/logger.ts';
import { getVmi } from '../kubevirt/client.ts';
import { KUBEVIRT_GROUP, KUBEVIRT_VERSION, VMIM_RESOURCE } from '../kubevirt/types.ts';
import type { AdmissionHandler } from './server.ts';
import type { AdmissionMode, Reserver } from './admission-ports.ts';
import { decisionServiceDecider } from './decision-adapter.ts';
import { kubeRecorder } from './kube-recorder.ts';
import { claimsReserver } from './claims-adapter.ts';
import { startMigrationLinker } from './migration-linker.ts';
import { informerNodeNames, informerVmiLookup } from './vmi-lookup.ts';
import { createVmimAdmission, DEFAULT_DECISION_BUDGET_MS } from './vmim-admission.ts';
import { ANNOTATION_MIGRATION } from '../api/v1alpha1/constants.ts';
import type { WebhookConfigRef } from './tls/ca-bundle-publisher.ts';

export const MUTATE_PATH = '/mutate-vmim';
export const VALIDATE_PATH = '/validate-vmim';
export const DEFAULT_WEBHOOK_CONFIG_NAME = 'mdev-operator-vmim';
export const DEFAULT_TIMEOUT_SECONDS = 10;
/** Namespaces never gated: the control plane's own and the operator's (so it can always recover). */
export const ALWAYS_EXEMPT_NAMESPACES = ['kube-system'] as const;

export interface AdmissionHandlersOptions {
  kc: KubeConfig;
  caches: Pick<ControllerCaches, 'vmis' | 'devices' | 'vmims' | 'mdevNodes' | 'nodes'> & Partial<Pick<ControllerCaches, 'migrations' | 'currency'>>;
  decision: Pick<DecisionService, 'decide'>;
  mode: AdmissionMode;
  budgetMs?: number;
  /** Default: the controller's capacity claims (MdevNode status.claims, resourceVersion CAS). */
  reserver?: Reserver;
  /** Link recorded MdevMigrations to their VMIMs from the VMIM cache (default true; one replica suffices but all may). */
  link?: boolean;
  /** spec.ttlSecondsAfterFinished of the records created for admitted VMIMs (absent: none, kept by the history limit only). */
  recordTtlSeconds?: number;
}

/** The route table for WebhookServer: `{ '/mutate-vmim': ..., '/validate-vmim': ... }`. */
export function admissionHandlers(o: AdmissionHandlersOptions): Record<string, AdmissionHandler> {
  const admission = createVmimAdmission({
    mode: o.mode,
    vmis: informerVmiLookup(o.caches.vmis, o.caches.devices, {
      fetchVmi: (namespace, name) => getVmi(o.kc, namespace, name),
      mdevNodes: o.caches.mdevNodes,
      ...(o.caches.currency ? { behind: () => o.caches.currency?.().behind ?? [] } : {}),
    }),
    nodes: informerNodeNames(o.caches.nodes),
    decider: decisionServiceDecider(o.decision),
    reserver: o.reserver ?? claimsReserver(new CapacityClaims({ kc: o.kc, mdevNodes: o.caches.mdevNodes, devices: o.caches.devices, log: loggerFor('webhook-claims') })),
    recorder: kubeRecorder(o.kc, { ...(o.caches.migrations ? { migrations: (key: string) => o.caches.migrations?.get(key) } : {}), ttlSecondsAfterFinished: o.recordTtlSeconds }),
    budgetMs: o.budgetMs ?? DEFAULT_DECISION_BUDGET_MS,
  });
  if (o.link !== false) startMigrationLinker(o.kc, o.caches.vmims);
  return { [MUTATE_PATH]: admission.mutate, [VALIDATE_PATH]: admission.validate };
}

// ---------------------------------------------------------------------------------------------
// Webhook configurations
// ---------------------------------------------------------------------------------------------

export type WebhookClient =
  | { service: { namespace: string; name: string; port?: number } }
  /** Base URL of the server, e.g. `https://127.0.0.1:9443` (local control plane). */
  | { url: string };

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface WebhookConfigOptions {
  /** Name of both configurations (default `mdev-operator-vmim`). */
  name?: string;
  client: WebhookClient;
  /** PEM; absent = left for the TLS keeper to publish. */
  caBundlePem?: string;
  /** Namespace the operator runs in: exempt, so a broken webhook never blocks its own recovery. */
  operatorNamespace: string;
  /** Default Fail (ADR 0005). */
  failurePolicy?: 'Fail' | 'Ignore';
  timeoutSeconds?: number;
  /** Extra namespace selector requirements (tests narrow the webhook to their namespace). */
  extraNamespaceRequirements?: LabelSelectorRequirement[];
}

function clientConfig(client: WebhookClient, path: string, caBundlePem: string | undefined): Record<string, unknown> {
  const ca = caBundlePem ? { caBundle: Buffer.from(caBundlePem, 'utf8').toString('base64') } : {};
  if ('url' in client) return { url: `${client.url.replace(/\/$/, '')}${path}`, ...ca };
  return { service: { namespace: client.service.namespace, name: client.service.name, path, port: client.service.port ?? 443 }, ...ca };
}

function webhookEntry(o: WebhookConfigOptions, name: string, path: string): Record<string, unknown> {
  return {
    name,
    clientConfig: clientConfig(o.client, path, o.caBundlePem),
    rules: [{ apiGroups: [KUBEVIRT_GROUP], apiVersions: [KUBEVIRT_VERSION], operations: ['CREATE'], resources: [VMIM_RESOURCE.plural], scope: 'Namespaced' }],
    namespaceSelector: {
      matchExpressions: [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...new Set([...ALWAYS_EXEMPT_NAMESPACES, o.operatorNamespace])] },
        ...(o.extraNamespaceRequirements ?? []),
      ],
    },
    failurePolicy: o.failurePolicy ?? 'Fail',
    matchPolicy: 'Equivalent',
    // Capacity claims and MdevMigrations are written only for real requests; dry runs are side-effect free.
    sideEffects: 'NoneOnDryRun',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: o.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
  };
}

export function mutatingWebhookConfiguration(o: WebhookConfigOptions): Record<string, unknown> {
  const name = o.name ?? DEFAULT_WEBHOOK_CONFIG_NAME;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'mdev-operator' } },
    webhooks: [{ ...webhookEntry(o, 'vmim.mutate.mdev-operator.io', MUTATE_PATH), reinvocationPolicy: 'Never' }],
  };
}

/**
 * The validating webhook re-checks what the mutating one decided, so the API server calls it only
 * for VMIMs that carry a decision or pin a node (ADR 0005): a VMIM of a VMI without mediated devices
 * then costs one webhook call, not two.
 */
export const VALIDATE_MATCH_CONDITIONS = [
  {
    name: 'decided-or-pinned',
    expression: `(has(object.metadata.annotations) && '${ANNOTATION_MIGRATION}' in object.metadata.annotations) || has(object.spec.addedNodeSelector)`,
  },
];

export function validatingWebhookConfiguration(o: WebhookConfigOptions): Record<string, unknown> {
  const name = o.name ?? DEFAULT_WEBHOOK_CONFIG_NAME;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'mdev-operator' } },
    webhooks: [{ ...webhookEntry(o, 'vmim.validate.mdev-operator.io', VALIDATE_PATH), matchConditions: VALIDATE_MATCH_CONDITIONS }],
  };
}

const CONFIG_PATHS = {
  MutatingWebhookConfiguration: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
  ValidatingWebhookConfiguration: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
} as const;

/** Creates or replaces both configurations (local/demo use; Helm renders them in-cluster). */
export async function ensureWebhookConfigurations(kc: KubeConfig, o: WebhookConfigOptions): Promise<WebhookConfigRef[]> {
  const configs = [mutatingWebhookConfiguration(o), validatingWebhookConfiguration(o)];
  const refs: WebhookConfigRef[] = [];
  for (const config of configs) {
    const kind = config.kind as keyof typeof CONFIG_PATHS;
    const name = (config.metadata as { name: string }).name;
    try {
      await kubeRequest(kc, { method: 'POST', path: CONFIG_PATHS[kind], body: config });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const current = (await kubeRequest(kc, { method: 'GET', path: `${CONFIG_PATHS[kind]}/${name}` })) as { metadata: { resourceVersion: string } };
      const metadata = { ...(config.metadata as object), resourceVersion: current.metadata.resourceVersion };
      await kubeRequest(kc, { method: 'PUT', path: `${CONFIG_PATHS[kind]}/${name}`, body: { ...config, metadata } });
    }
    refs.push({ kind, name });
  }
  return refs;
}

/**
 * Deletes both configurations. With `onlyIfUrl`, a configuration is deleted only while its webhooks
 * still call that base URL (another replica may have registered its own since), and the delete is
 * conditional on the resourceVersion that was checked.
 */
export async function deleteWebhookConfigurations(kc: KubeConfig, name = DEFAULT_WEBHOOK_CONFIG_NAME, onlyIfUrl?: string): Promise<void> {
  for (const path of Object.values(CONFIG_PATHS)) {
    try {
      let body: Record<string, unknown> | undefined;
      if (onlyIfUrl !== undefined) {
        const current = (await kubeRequest(kc, { method: 'GET', path: `${path}/${name}` })) as ConfigOnWire;
        if (!callsOnly(current, onlyIfUrl)) continue;
        body = { preconditions: { resourceVersion: current.metadata.resourceVersion } };
      }
      await kubeRequest(kc, { method: 'DELETE', path: `${path}/${name}`, ...(body ? { body } : {}) });
    } catch (err) {
      // Gone, or changed since we looked (409): either way it is no longer ours to delete.
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }
}

interface ConfigOnWire {
  metadata: { resourceVersion: string };
  webhooks?: { clientConfig?: { url?: string } }[];
}

function callsOnly(config: ConfigOnWire, baseUrl: string): boolean {
  const base = baseUrl.replace(/\/$/, '');
  const hooks = config.webhooks ?? [];
  return hooks.length > 0 && hooks.every((h) => (h.clientConfig?.url ?? '').startsWith(`${base}/`));
}
