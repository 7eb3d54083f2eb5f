// STAND-IN CRDs for KubeVirt's VirtualMachineInstance, VirtualMachineInstanceMigration and KubeVirt, for the
// local control plane of tests, the demo and benchmarks (KubeVirt itself cannot run there). Group,
// version, kinds, plurals, short names, categories and printer columns are KubeVirt's own, so
// clients cannot tell the difference at the API level; the schema only preserves unknown fields
// instead of KubeVirt's full OpenAPI schema. A real KubeVirt installation is never overwritten.
import type { KubeConfig } from '../../src/kube/kubeconfig.ts';
import { stringify } from 'yaml';
import { serverSideApply } from '../../src/kube/apply.ts';
import { sleep, realClock } from '../../src/kube/clock.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import { kubeRequest } from '../../src/kube/request.ts';
import type { ResourceRef } from '../../src/kube/resource.ts';
import { loggerFor } from '../../src/observability/logger.ts';
import {
  KUBEVIRT_GROUP,
  KUBEVIRT_VERSION,
  VMI_KIND,
  VMI_RESOURCE,
  VMI_SHORT_NAMES,
  VMI_SINGULAR,
  VMIM_KIND,
  VMIM_RESOURCE,
  VMIM_SHORT_NAMES,
  VMIM_SINGULAR,
} from '../../src/kubevirt/types.ts';
import { KUBEVIRT_CR_RESOURCE } from '../../src/kubevirt/kubevirt-config.ts';

const KUBEVIRT_KIND = 'KubeVirt';

/** Marks our stand-in CRDs; a CRD without it belongs to a real KubeVirt and is left alone. */
export const STANDIN_ANNOTATION = 'sim.mdev-operator.io/stand-in';
export const STANDIN_FIELD_MANAGER = 'mdev-operator-kubevirt-standin';
/** Where the rendered YAML lives, for `kubectl apply -f` by hand. */
export const STANDIN_CRDS_YAML_PATH = 'test/standins/kubevirt-crds.yaml';

const CRD_RESOURCE: ResourceRef = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', namespaced: false };

interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  priority?: number;
  description?: string;
}

interface StandinKind {
  kind: string;
  singular: string;
  resource: ResourceRef;
  shortNames: readonly string[];
  columns: PrinterColumn[];
  /**
   * Whether the CRD has a status subresource. KubeVirt's VirtualMachineInstance CRD has none
   * (pkg/virt-operator/resource/generate/components/crds.go: NewVirtualMachineInstanceCrd sets no
   * Subresources), so its status is written with the object; the VMIM and KubeVirt CRDs have one.
   */
  statusSubresource: boolean;
}

// Printer columns as KubeVirt's CRDs declare them (pkg/virt-operator/resource/generate/components/crds.go).
const KINDS: StandinKind[] = [
  {
    kind: VMI_KIND,
    singular: VMI_SINGULAR,
    resource: VMI_RESOURCE,
    shortNames: VMI_SHORT_NAMES,
    columns: [
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'IP', type: 'string', jsonPath: '.status.interfaces[0].ipAddress' },
      { name: 'NodeName', type: 'string', jsonPath: '.status.nodeName' },
      { name: 'Ready', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
      { name: 'Live-Migratable', type: 'string', jsonPath: ".status.conditions[?(@.type=='LiveMigratable')].status", priority: 1 },
      { name: 'Paused', type: 'string', jsonPath: ".status.conditions[?(@.type=='Paused')].status", priority: 1 },
    ],
    statusSubresource: false,
  },
  {
    kind: VMIM_KIND,
    singular: VMIM_SINGULAR,
    resource: VMIM_RESOURCE,
    shortNames: VMIM_SHORT_NAMES,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'VMI', type: 'string', jsonPath: '.spec.vmiName' },
    ],
    statusSubresource: true,
  },
  {
    // The cluster's one KubeVirt CR: its developerConfiguration.nodeSelectors and workloads
    // nodePlacement constrain every migration target.
    kind: KUBEVIRT_KIND,
    singular: 'kubevirt',
    resource: KUBEVIRT_CR_RESOURCE,
    shortNames: ['kv', 'kvs'],
    columns: [
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    ],
    statusSubresource: true,
  },
];

const preserve = () => ({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });

function crdFor(k: StandinKind) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.resource.plural}.${KUBEVIRT_GROUP}`,
      labels: { 'app.kubernetes.io/component': 'kubevirt', 'app.kubernetes.io/managed-by': 'mdev-operator-standin' },
      annotations: { [STANDIN_ANNOTATION]: 'true' },
    },
    spec: {
      group: KUBEVIRT_GROUP,
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.resource.plural, singular: k.singular, shortNames: [...k.shortNames], categories: ['all'] },
      scope: 'Namespaced',
      versions: [
        {
          name: KUBEVIRT_VERSION,
          served: true,
          storage: true,
          ...(k.statusSubresource ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: k.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `STAND-IN for KubeVirt's ${k.kind} (tests and demo only): spec and status are not validated.`,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: preserve(),
                status: preserve(),
              },
            },
          },
        },
      ],
    },
  };
}

export type StandinCrd = ReturnType<typeof crdFor>;

/** The stand-in CRDs (VMI, VMIM, KubeVirt), as objects. */
export function kubevirtStandinCrds(): StandinCrd[] {
  return KINDS.map(crdFor);
}

/** The same CRDs as a multi-document YAML stream (what STANDIN_CRDS_YAML_PATH holds). */
export function renderKubevirtStandinCrdsYaml(): string {
  const header = '# GENERATED from dev/standins/kubevirt-crds.ts: STAND-IN KubeVirt CRDs for tests and the demo. Do not edit.\n';
  return header + kubevirtStandinCrds().map((crd) => `---\n${stringify(crd, { lineWidth: 0 })}`).join('');
}

export interface InstallOptions {
  /** How long to wait for each CRD to become Established. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const log = loggerFor('kubevirt-standin');

/**
 * Applies the stand-in CRDs (idempotent: server-side apply) and waits until both are Established.
 * A CRD of the same name that is not ours (a real KubeVirt) is kept as it is and only waited for.
 */
export async function installKubevirtStandins(kc: KubeConfig, opts: InstallOptions = {}): Promise<void> {
  for (const crd of kubevirtStandinCrds()) {
    const existing = await getCrd(kc, crd.metadata.name);
    if (existing && existing.metadata?.annotations?.[STANDIN_ANNOTATION] !== 'true') {
      log.info('Kept existing KubeVirt CRD (not a stand-in)', { crd: crd.metadata.name });
    } else {
      await serverSideApply(kc, CRD_RESOURCE, crd, { fieldManager: STANDIN_FIELD_MANAGER, force: true, signal: opts.signal });
    }
  }
  for (const crd of kubevirtStandinCrds()) await waitEstablished(kc, crd.metadata.name, opts);
}

interface CrdState {
  metadata?: { annotations?: Record<string, string> };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

async function getCrd(kc: KubeConfig, name: string): Promise<CrdState | undefined> {
  try {
    return (await kubeRequest(kc, { method: 'GET', path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}` })) as CrdState;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function waitEstablished(kc: KubeConfig, name: string, opts: InstallOptions): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last = 'not found';
  while (!opts.signal?.aborted) {
    const crd = await getCrd(kc, name);
    const conds = crd?.status?.conditions ?? [];
    if (conds.some((c) => c.type === 'Established' && c.status === 'True')) return;
    const names = conds.find((c) => c.type === 'NamesAccepted');
    if (names?.status === 'False') {
      throw new Error(`CRD ${name} was not accepted (${names.reason}: ${names.message}): remove the conflicting CRD and install again`);
    }
    last = conds.map((c) => `${c.type}=${c.status}`).join(', ') || (crd ? 'no conditions yet' : 'not found');
    if (Date.now() > deadline) break;
    await sleep(realClock, 100, opts.signal);
  }
  throw new Error(`CRD ${name} did not become Established (${last}): check the kube-apiserver log`);
}
