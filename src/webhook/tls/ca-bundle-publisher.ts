// Publishes the CA bundle into `clientConfig.caBundle` of every webhook in the named
// Mutating/ValidatingWebhookConfigurations, so the API server trusts our serving certificate.
// Patches are JSON patches guarded by `test` ops on each webhook's name: if someone reorders or
// edits the webhooks between our read and our patch, the patch fails instead of hitting the
// wrong entry, and we re-read.
import { JSON_PATCH } from '../../kube/apply.ts';
import type { KubeConfig } from '../../kube/kubeconfig.ts';
import { kubeRequest } from '../../kube/request.ts';
import { resourcePath, type ResourceRef } from '../../kube/resource.ts';
import { statusOf } from './secret-store.ts';

export type WebhookConfigKind = 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';

export interface WebhookConfigRef {
  kind: WebhookConfigKind;
  name: string;
}

export interface WebhookEntry {
  name: string;
  /** Base64 of the PEM bundle, as the API stores it; absent when unset. */
  caBundle?: string;
}

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'test' | 'move' | 'copy';
  path: string;
  value?: unknown;
  from?: string;
}

/** The only webhook-configuration operations publishing needs (substitutable in tests). */
export interface WebhookConfigApi {
  /** The configuration's webhooks, or undefined when it does not exist. */
  read(ref: WebhookConfigRef): Promise<WebhookEntry[] | undefined>;
  patch(ref: WebhookConfigRef, ops: JsonPatchOp[]): Promise<void>;
}

/** Returned only when every existing configuration carries the bundle; failures throw. */
export interface PublishResult {
  patched: WebhookConfigRef[];
  /** Configurations that do not exist (yet); nothing trusts an older bundle through them. */
  missing: WebhookConfigRef[];
}

const MAX_ATTEMPTS = 3;

/** JSON patch that sets `caBundle` on every webhook whose value differs; [] when all match. */
export function caBundlePatch(webhooks: readonly WebhookEntry[], caBundlePem: string): JsonPatchOp[] {
  const want = Buffer.from(caBundlePem, 'utf8').toString('base64');
  return webhooks.flatMap((hook, i) =>
    hook.caBundle === want
      ? []
      : [
          { op: 'test' as const, path: `/webhooks/${i}/name`, value: hook.name },
          // `add` on an object member sets it whether or not it exists yet.
          { op: 'add' as const, path: `/webhooks/${i}/clientConfig/caBundle`, value: want },
        ],
  );
}

export async function publishCaBundle(api: WebhookConfigApi, refs: readonly WebhookConfigRef[], caBundlePem: string): Promise<PublishResult> {
  const result: PublishResult = { patched: [], missing: [] };
  for (const ref of refs) {
    const outcome = await publishOne(api, ref, caBundlePem);
    if (outcome === 'missing') result.missing.push(ref);
    if (outcome === 'patched') result.patched.push(ref);
  }
  return result;
}

async function publishOne(api: WebhookConfigApi, ref: WebhookConfigRef, caBundlePem: string): Promise<'missing' | 'patched' | 'current'> {
  let lastError: unknown;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const webhooks = await api.read(ref);
    if (!webhooks) return 'missing';
    const ops = caBundlePatch(webhooks, caBundlePem);
    if (ops.length === 0) return 'current';
    try {
      await api.patch(ref, ops);
      return 'patched';
    } catch (err) {
      lastError = err; // most likely a failed `test` op after a concurrent edit: re-read and retry
    }
  }
  throw new Error(`webhook TLS: could not patch caBundle of ${ref.kind} ${ref.name} after ${MAX_ATTEMPTS} attempts (${(lastError as Error).message}); grant the operator get/patch on ${ref.kind.toLowerCase()}s`, { cause: lastError });
}

const CONFIGURATIONS: Record<WebhookConfigKind, ResourceRef> = {
  ValidatingWebhookConfiguration: { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'validatingwebhookconfigurations', namespaced: false },
  MutatingWebhookConfiguration: { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingwebhookconfigurations', namespaced: false },
};

/** The fields of a webhook configuration read here. */
interface WebhookConfigObject {
  webhooks?: { name: string; clientConfig?: { caBundle?: string } }[];
}

/** {@link WebhookConfigApi} over the Kubernetes API. */
export function kubeWebhookConfigApi(kc: KubeConfig): WebhookConfigApi {
  const pathOf = (ref: WebhookConfigRef): string => resourcePath(CONFIGURATIONS[ref.kind], { name: ref.name });
  return {
    async read(ref) {
      try {
        const config = (await kubeRequest(kc, { method: 'GET', path: pathOf(ref) })) as WebhookConfigObject;
        return (config.webhooks ?? []).map((w) => ({ name: w.name, ...(w.clientConfig?.caBundle ? { caBundle: w.clientConfig.caBundle } : {}) }));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async patch(ref, ops) {
      await kubeRequest(kc, { method: 'PATCH', path: pathOf(ref), body: ops, contentType: JSON_PATCH });
    },
  };
}
