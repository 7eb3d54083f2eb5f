// STAND-IN for virt-api's VMIM admission webhooks, served over HTTPS and registered on the real
// local kube-apiserver, so a refusal really comes back from the API server as KubeVirt's would:
// - migrations-mutator.kubevirt.io (pkg/virt-api/webhooks/mutating-webhook/mutators/
//   migration-create-mutator.go): labels the VMIM kubevirt.io/vmi-name=<vmi> and adds the
//   kubevirt.io/migrationJobFinalize finalizer;
// - migration-create-validator.kubevirt.io (pkg/virt-api/webhooks/validating-webhook/admitters/
//   migration-create-admitter.go): refuses with HTTP 400 when the VMI does not exist, is final, has
//   LiveMigratable=False ("Cannot migrate VMI, Reason: ..., Message: ...") or another migration of
//   it is in flight ("in-flight migration detected. ...");
// - migration-update-validator.kubevirt.io (migration-update-admitter.go): the spec, and so
//   addedNodeSelector, cannot change after create; the selector label cannot change in flight.
// The paths differ from virt-api's (/migration-validate-create, ...) only because our server
// routes /mutate-* and /validate-*.
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { randomBytes } from 'node:crypto';
import { describeApiError, isNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { getVmi, listVmims } from '../../../src/kubevirt/client.ts';
import { CONDITION_LIVE_MIGRATABLE, findCondition, isVmimFinal, KUBEVIRT_GROUP, KUBEVIRT_VERSION, VMIM_RESOURCE } from '../../../src/kubevirt/types.ts';
import type { Logger } from '../../../src/observability/logger.ts';
import { generateCa, issueServingCert } from '../../../src/webhook/tls/certs.ts';
import { allow, allowWithPatch, deny, WebhookServer, type AdmissionHandler, type JsonPatchOperation } from '../../../src/webhook/server.ts';

/** KubeVirt's migration selector label (api/core/v1 MigrationSelectorLabel). */
export const LABEL_VMI_NAME = 'kubevirt.io/vmi-name';
/** KubeVirt's VMIM finalizer (api/core/v1 VirtualMachineInstanceMigrationFinalizer). */
export const VMIM_FINALIZER = 'kubevirt.io/migrationJobFinalize';

const CONFIGS = {
  MutatingWebhookConfiguration: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
  ValidatingWebhookConfiguration: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
} as const;

export interface KubevirtAdmission {
  stop(): Promise<void>;
}

/** virt-api's ToAdmissionResponseError: a refusal with HTTP 400 and the error as the message. */
const refuse = (message: string) => deny(message, { code: 400, reason: 'BadRequest' });

function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

export interface KubevirtAdmissionOptions {
  kc: KubeConfig;
  /** Only VMIMs of this namespace are admitted by this stand-in. */
  namespace?: string;
  /** KubeVirt's DecentralizedLiveMigration feature gate (default off: sendTo/receive are refused). */
  decentralized?: boolean;
  log: Logger;
}

export async function startKubevirtAdmission(o: KubevirtAdmissionOptions): Promise<KubevirtAdmission> {
  const { kc, log } = o;
  const mutate: AdmissionHandler = (req) => {
    // Read raw: a CREATE carries no uid yet, so the VMIM decoder would not take it.
    const object = req.object as { metadata?: { labels?: unknown; finalizers?: unknown }; spec?: { vmiName?: unknown } };
    const vmiName = object.spec?.vmiName;
    if (typeof vmiName !== 'string' || vmiName === '') return allow();
    const ops: JsonPatchOperation[] = [];
    const meta = object.metadata ?? {};
    if (meta.labels === undefined) ops.push({ op: 'add', path: '/metadata/labels', value: { [LABEL_VMI_NAME]: vmiName } });
    else ops.push({ op: 'add', path: `/metadata/labels/${escapePointer(LABEL_VMI_NAME)}`, value: vmiName });
    const finalizers = Array.isArray(meta.finalizers) ? (meta.finalizers as string[]) : [];
    if (!finalizers.includes(VMIM_FINALIZER)) ops.push({ op: 'add', path: '/metadata/finalizers', value: [...finalizers, VMIM_FINALIZER] });
    return allowWithPatch(ops);
  };

  const validateCreate: AdmissionHandler = async (req) => {
    if (req.dryRun === true && (req.object as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations?.[READINESS_CHECK] === 'true') return allow();
    const namespace = req.namespace ?? '';
    const vmiName = (req.object as { spec?: { vmiName?: unknown } }).spec?.vmiName;
    if (typeof vmiName !== 'string' || vmiName === '') return refuse('vmiName is missing');
    const vmi = await getVmi(kc, namespace, vmiName, log);
    if (!vmi) return refuse(`the VMI "${namespace}/${vmiName}" does not exist`);
    if (['Succeeded', 'Failed'].includes(vmi.status?.phase ?? '')) return refuse('Cannot migrate VMI in finalized state.');
    const migratable = findCondition(vmi.status?.conditions, CONDITION_LIVE_MIGRATABLE);
    if (migratable?.status === 'False') return refuse(`Cannot migrate VMI, Reason: ${migratable.reason ?? ''}, Message: ${migratable.message ?? ''}`);
    const others = await listVmims(kc, { namespace, labelSelector: `${LABEL_VMI_NAME} in (${vmiName})` }, log);
    const inFlight = others.find((m) => !isVmimFinal(m));
    if (inFlight) return refuse(`in-flight migration detected. Active migration job (${inFlight.metadata.uid}) is currently already in progress for VMI ${vmiName}.`);
    const spec = (req.object as { spec?: { sendTo?: unknown; receive?: unknown } }).spec ?? {};
    if ((spec.sendTo !== undefined || spec.receive !== undefined) && !o.decentralized) return refuse('DecentralizedLiveMigration feature gate is not enabled in kubevirt resource');
    return allow();
  };

  const validateUpdate: AdmissionHandler = (req) => {
    const next = req.object as { spec?: unknown; status?: { phase?: string }; metadata?: { labels?: Record<string, string> } };
    const prev = req.oldObject as { spec?: unknown; metadata?: { labels?: Record<string, string> } };
    if (JSON.stringify(next.spec ?? null) !== JSON.stringify(prev.spec ?? null)) return refuse("update of Migration object's spec is restricted");
    const final = next.status?.phase === 'Succeeded' || next.status?.phase === 'Failed';
    const before = prev.metadata?.labels?.[LABEL_VMI_NAME];
    if (!final && before !== undefined && next.metadata?.labels?.[LABEL_VMI_NAME] !== before) return refuse("selector label can't be modified on an in-flight migration");
    return allow();
  };

  const now = new Date();
  const ca = await generateCa('kubevirt-simulator-admission', { now, validitySeconds: 86_400 });
  const serving = await issueServingCert(ca, { service: 'virt-api', namespace: 'kubevirt', ipAddresses: ['127.0.0.1'] }, { now, validitySeconds: 86_400 });
  const server = await WebhookServer.listen({
    port: 0,
    host: '127.0.0.1',
    tls: serving,
    handlers: { '/mutate-migration-create': mutate, '/validate-migration-create': validateCreate, '/validate-migration-update': validateUpdate },
  });
  const name = `kubevirt-simulator-${randomBytes(4).toString('hex')}`;
  const base = `https://127.0.0.1:${server.port}`;
  const caBundle = Buffer.from(ca.certPem, 'utf8').toString('base64');
  const scope = o.namespace ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': o.namespace } } } : {};
  const hook = (hookName: string, path: string, operation: 'CREATE' | 'UPDATE') => ({
    name: hookName,
    clientConfig: { url: `${base}${path}`, caBundle },
    rules: [{ apiGroups: [KUBEVIRT_GROUP], apiVersions: [KUBEVIRT_VERSION], operations: [operation], resources: [VMIM_RESOURCE.plural] }],
    ...scope,
    failurePolicy: 'Fail',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 10,
  });
  const configs = [
    { kind: 'MutatingWebhookConfiguration' as const, webhooks: [hook('migrations-mutator.kubevirt.io', '/mutate-migration-create', 'CREATE')] },
    {
      kind: 'ValidatingWebhookConfiguration' as const,
      webhooks: [hook('migration-create-validator.kubevirt.io', '/validate-migration-create', 'CREATE'), hook('migration-update-validator.kubevirt.io', '/validate-migration-update', 'UPDATE')],
    },
  ];
  for (const c of configs) {
    await kubeRequest(kc, { method: 'POST', path: CONFIGS[c.kind], body: { apiVersion: 'admissionregistration.k8s.io/v1', kind: c.kind, metadata: { name, labels: { 'app.kubernetes.io/name': 'kubevirt-simulator' } }, webhooks: c.webhooks } });
  }
  await waitActive(kc, o.namespace, log);
  log.info('Serving the KubeVirt admission stand-in (VMIM mutator and validators)', { configuration: name, url: base });
  return {
    async stop() {
      for (const path of Object.values(CONFIGS)) {
        await kubeRequest(kc, { method: 'DELETE', path: `${path}/${name}` }).catch((err: unknown) => {
          if (!isNotFound(err)) log.warn('Could not delete the KubeVirt admission stand-in configuration', { name, error: String(err) });
        });
      }
      await server.close();
    },
  };
}

/** On a dry-run VMIM the stand-in's validator admits without checks: how readiness is probed. */
const READINESS_CHECK = 'sim.mdev-operator.io/admission-check';

/**
 * The API server loads each webhook configuration through an informer, so the mutator and the
 * validators become active at different moments. Dry runs show each: the mutator labels a probe the
 * validator lets through (READINESS_CHECK), and the validator refuses one without it.
 */
async function waitActive(kc: KubeConfig, namespace: string | undefined, log: Logger): Promise<void> {
  const ns = namespace ?? 'default';
  const probe = (check: boolean) =>
    kubeRequest(kc, {
      method: 'POST',
      path: `/apis/${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}/namespaces/${ns}/${VMIM_RESOURCE.plural}`,
      query: { dryRun: 'All' },
      body: {
        apiVersion: `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`,
        kind: 'VirtualMachineInstanceMigration',
        metadata: { generateName: 'sim-admission-check-', ...(check ? { annotations: { [READINESS_CHECK]: 'true' } } : {}) },
        spec: { vmiName: 'sim-admission-check' },
      },
    }) as Promise<{ metadata?: { labels?: Record<string, string> } }>;
  const deadline = Date.now() + 30_000;
  let mutating = false;
  let validating = false;
  while (!(mutating && validating)) {
    if (!mutating) mutating = (await probe(true).catch(() => undefined))?.metadata?.labels?.[LABEL_VMI_NAME] !== undefined;
    if (!validating) validating = await probe(false).then(() => false, (err: unknown) => describeApiError(err).includes('sim-admission-check'));
    if (mutating && validating) return;
    if (Date.now() > deadline) {
      log.warn('The KubeVirt admission stand-in did not become active within 30 s', { mutating, validating });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
