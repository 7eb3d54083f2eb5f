// The parts of KubeVirt's `kubevirt.io/v1` API the operator reads and writes: VirtualMachineInstance
// (VMI) and VirtualMachineInstanceMigration (VMIM). Only the fields we use are typed; every object
// is loose, so whatever else a real KubeVirt sends passes through untouched. Names, labels and
// phases are KubeVirt's own (pkg/apis/core/v1 in kubevirt/kubevirt), so the same code runs against
// the stand-in and a real cluster.
import { z } from 'zod';
import type { ResourceRef } from '../kube/resource.ts';
import { loggerFor, type Logger } from '../observability/logger.ts';

export const KUBEVIRT_GROUP = 'kubevirt.io';
export const KUBEVIRT_VERSION = 'v1';
export const KUBEVIRT_API_VERSION = `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`;

export const VMI_KIND = 'VirtualMachineInstance';
export const VMIM_KIND = 'VirtualMachineInstanceMigration';

export const VMI_RESOURCE: ResourceRef = { group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, plural: 'virtualmachineinstances', namespaced: true };
export const VMIM_RESOURCE: ResourceRef = { group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, plural: 'virtualmachineinstancemigrations', namespaced: true };

export const VMI_SINGULAR = 'virtualmachineinstance';
export const VMIM_SINGULAR = 'virtualmachineinstancemigration';
export const VMI_SHORT_NAMES = ['vmi', 'vmis'] as const;
export const VMIM_SHORT_NAMES = ['vmim', 'vmims'] as const;

/** Labels and annotations KubeVirt puts on virt-launcher pods and VMIs. */
export const LABEL_APP = 'kubevirt.io';
export const APP_VIRT_LAUNCHER = 'virt-launcher';
export const LABEL_CREATED_BY = 'kubevirt.io/created-by';
export const LABEL_VM_NAME = 'vm.kubevirt.io/name';
/** Set by virt-handler on a VMI (and moved on migration): the node it runs on. */
export const LABEL_NODE_NAME = 'kubevirt.io/nodeName';
/** On a migration's target pod: the VMIM's uid. */
export const LABEL_MIGRATION_JOB_UID = 'kubevirt.io/migrationJobUID';
export const ANNOTATION_DOMAIN = 'kubevirt.io/domain';
/** The node label KubeVirt's `addedNodeSelector` pins a target with. */
export const LABEL_HOSTNAME = 'kubernetes.io/hostname';

/** VMI phases (VirtualMachineInstancePhase); '' before virt-controller saw the object. */
export const VMI_PHASES = ['', 'Pending', 'Scheduling', 'Scheduled', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
export type VmiPhase = (typeof VMI_PHASES)[number];

/** VMIM phases (VirtualMachineInstanceMigrationPhase) in the order a migration passes them. */
export const VMIM_PHASES = ['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Succeeded', 'Failed'] as const;
export type VmimPhase = (typeof VMIM_PHASES)[number];
export const VMIM_FINAL_PHASES: readonly VmimPhase[] = ['Succeeded', 'Failed'];

/** VMI condition types we read: a VMI whose LiveMigratable is False cannot be migrated. */
export const CONDITION_READY = 'Ready';
export const CONDITION_LIVE_MIGRATABLE = 'LiveMigratable';

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

/**
 * Metadata of a namespaced KubeVirt object as the server returns it (name, namespace and uid
 * always set). Names are not re-validated here: the API server already did, and a real KubeVirt's
 * objects must never be dropped for a rule of ours.
 */
const kubevirtMeta = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().min(1),
  uid: z.string().min(1),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const nodeSelectorRequirement = z.looseObject({
  key: z.string(),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']),
  values: z.array(z.string()).optional(),
});

const nodeSelectorTerm = z.looseObject({
  matchExpressions: z.array(nodeSelectorRequirement).optional(),
  matchFields: z.array(nodeSelectorRequirement).optional(),
});

const toleration = z.looseObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute', '']).optional(),
  tolerationSeconds: z.number().optional(),
});

/** A `gpus[]` or `hostDevices[]` entry: `deviceName` is the device plugin's resource name. */
const deviceRequest = z.looseObject({ name: z.string(), deviceName: z.string() });

const condition = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().nullable().optional(),
  lastProbeTime: z.string().nullable().optional(),
});

/** VirtualMachineInstanceMigrationState: on the VMI and (since KubeVirt 1.3) on the VMIM. */
const migrationState = z.looseObject({
  sourceNode: z.string().optional(),
  targetNode: z.string().optional(),
  targetPod: z.string().optional(),
  migrationUid: z.string().optional(),
  startTimestamp: z.string().nullable().optional(),
  endTimestamp: z.string().nullable().optional(),
  completed: z.boolean().optional(),
  failed: z.boolean().optional(),
  failureReason: z.string().optional(),
});

export const vmiSchema = z.looseObject({
  apiVersion: z.literal(KUBEVIRT_API_VERSION),
  kind: z.literal(VMI_KIND),
  metadata: kubevirtMeta,
  spec: z.looseObject({
    nodeSelector: z.record(z.string(), z.string()).optional(),
    affinity: z
      .looseObject({
        nodeAffinity: z
          .looseObject({
            requiredDuringSchedulingIgnoredDuringExecution: z
              .looseObject({ nodeSelectorTerms: z.array(nodeSelectorTerm) })
              .optional(),
          })
          .optional(),
      })
      .optional(),
    tolerations: z.array(toleration).optional(),
    domain: z
      .looseObject({
        devices: z
          .looseObject({
            gpus: z.array(deviceRequest).optional(),
            hostDevices: z.array(deviceRequest).optional(),
          })
          .optional(),
      })
      .optional(),
  }),
  status: z
    .looseObject({
      // A string, not an enum: a phase added by a newer KubeVirt must not make the VMI unreadable.
      phase: z.string().optional(),
      nodeName: z.string().optional(),
      migrationState: migrationState.nullable().optional(),
      conditions: z.array(condition).optional(),
    })
    .optional(),
});

export const vmimSchema = z.looseObject({
  apiVersion: z.literal(KUBEVIRT_API_VERSION),
  kind: z.literal(VMIM_KIND),
  metadata: kubevirtMeta,
  spec: z.looseObject({
    vmiName: z.string().min(1),
    addedNodeSelector: z.record(z.string(), z.string()).optional(),
  }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      migrationState: migrationState.nullable().optional(),
      conditions: z.array(condition).optional(),
      phaseTransitionTimestamps: z
        .array(z.looseObject({ phase: z.string(), phaseTransitionTimestamp: z.string() }))
        .optional(),
    })
    .optional(),
});

export type Vmi = z.infer<typeof vmiSchema>;
export type Vmim = z.infer<typeof vmimSchema>;
export type MigrationState = z.infer<typeof migrationState>;
export type NodeSelectorTerm = z.infer<typeof nodeSelectorTerm>;
export type Toleration = z.infer<typeof toleration>;
export type Condition = z.infer<typeof condition>;
export type DeviceRequest = z.infer<typeof deviceRequest>;

// ---------------------------------------------------------------------------------------------
// Parsing: malformed objects are logged and skipped, never thrown, so one bad object cannot stop
// a list, an informer or a reconcile of the others.
// ---------------------------------------------------------------------------------------------

const defaultLog = loggerFor('kubevirt');

function describeObject(obj: unknown): string {
  const meta = (obj as { metadata?: { namespace?: unknown; name?: unknown } } | null)?.metadata;
  const ns = typeof meta?.namespace === 'string' ? `${meta.namespace}/` : '';
  return typeof meta?.name === 'string' ? `${ns}${meta.name}` : '<unnamed>';
}

function parseWith<T>(schema: z.ZodType<T>, kind: string, obj: unknown, log: Logger): T | undefined {
  const r = schema.safeParse(obj);
  if (r.success) return r.data;
  log.warn('Skipped malformed KubeVirt object', {
    kind,
    object: describeObject(obj),
    issues: r.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
  });
  return undefined;
}

export function parseVmi(obj: unknown, log: Logger = defaultLog): Vmi | undefined {
  return parseWith(vmiSchema, VMI_KIND, obj, log);
}

export function parseVmim(obj: unknown, log: Logger = defaultLog): Vmim | undefined {
  return parseWith(vmimSchema, VMIM_KIND, obj, log);
}

/** The well-formed items of a list response; malformed ones are logged and left out. */
export function parseVmiList(items: readonly unknown[], log: Logger = defaultLog): Vmi[] {
  return items.map((o) => parseVmi(o, log)).filter((v): v is Vmi => v !== undefined);
}

export function parseVmimList(items: readonly unknown[], log: Logger = defaultLog): Vmim[] {
  return items.map((o) => parseVmim(o, log)).filter((v): v is Vmim => v !== undefined);
}

// ---------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------

/** The VMI's device-plugin requests: its `gpus[]` and `hostDevices[]`, in that order. */
export function vmiDeviceRequests(vmi: Vmi): { kind: 'gpu' | 'hostDevice'; name: string; deviceName: string }[] {
  const devices = vmi.spec.domain?.devices;
  return [
    ...(devices?.gpus ?? []).map((d) => ({ kind: 'gpu' as const, name: d.name, deviceName: d.deviceName })),
    ...(devices?.hostDevices ?? []).map((d) => ({ kind: 'hostDevice' as const, name: d.name, deviceName: d.deviceName })),
  ];
}

/** `spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`, if any. */
export function vmiRequiredNodeTerms(vmi: Vmi): NodeSelectorTerm[] | undefined {
  return vmi.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isVmimFinal(vmim: Vmim): boolean {
  return (VMIM_FINAL_PHASES as readonly string[]).includes(vmim.status?.phase ?? '');
}

/** The node a VMIM pins through `addedNodeSelector`, if it pins one. */
export function vmimPinnedNode(vmim: Vmim): string | undefined {
  return vmim.spec.addedNodeSelector?.[LABEL_HOSTNAME];
}

/** Why a VMIM failed, as recorded in `status.migrationState.failureReason`. */
export function vmimFailureReason(vmim: Vmim): string | undefined {
  return vmim.status?.migrationState?.failureReason;
}
