// The parts of KubeVirt's `kubevirt.io/v1` API the operator reads and writes: VirtualMachineInstance
// (VMI) and VirtualMachineInstanceMigration (VMIM). Only the fields we use are typed; every object
// is loose, so whatever else a real KubeVirt sends passes through untouched. Names, labels and
// phases are KubeVirt's own (pkg/apis/core/v1 in kubevirt/kubevirt), so the same code runs against
// the stand-in and a real cluster.
import { z } from 'zod';
import { declaredFieldsOnly, decodeLeniently, describeUnreadable, firstUnreadable, markUnreadable, unreadableDetails, type FieldGroup, type UnreadableField } from '../kube/lenient-decode.ts';
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

/**
 * VMIM phases (VirtualMachineInstanceMigrationPhase, staging/src/kubevirt.io/api/core/v1/types.go
 * in KubeVirt v1.9): a local migration passes Pending → Scheduling → Scheduled → PreparingTarget →
 * TargetReady → Running → Succeeded | Failed; a decentralized one (two clusters) adds
 * WaitingForSync and Synchronizing before Pending. Phases are read as plain strings, so a phase a
 * newer KubeVirt adds never makes a VMIM unreadable.
 */
export const VMIM_PHASES = ['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Succeeded', 'Failed', 'WaitingForSync', 'Synchronizing'] as const;
export type VmimPhase = (typeof VMIM_PHASES)[number];
/** The phases of a local (single-cluster) migration, in order. */
export const VMIM_LOCAL_PHASES = ['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Succeeded'] as const;
export const VMIM_FINAL_PHASES: readonly VmimPhase[] = ['Succeeded', 'Failed'];
/** Phases before the target pod runs: the target may still be Pending (unschedulable). */
export const VMIM_PRE_TARGET_PHASES: readonly string[] = ['', 'Pending', 'WaitingForSync', 'Synchronizing', 'Scheduling'];

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
  ownerReferences: z.array(z.looseObject({ kind: z.string().optional(), name: z.string().optional(), uid: z.string().optional(), controller: z.boolean().optional() })).optional(),
});

// Operators and effects are strings, not enums: Kubernetes adds values (tolerations gained Lt/Gt
// in 1.35), and a value we do not know must be kept (the matchers treat it as matching nothing),
// not make the whole VMI unreadable.
const nodeSelectorRequirement = z.looseObject({
  key: z.string(),
  operator: z.string(),
  values: z.array(z.string()).nullable().optional(),
});

export const nodeSelectorTerm = z.looseObject({
  matchExpressions: z.array(nodeSelectorRequirement).optional(),
  matchFields: z.array(nodeSelectorRequirement).optional(),
});

export const toleration = z.looseObject({
  key: z.string().optional(),
  operator: z.string().optional(),
  value: z.string().optional(),
  effect: z.string().optional(),
  tolerationSeconds: z.number().nullable().optional(),
});

/** `affinity` as far as placement reads it: the required node-affinity terms (ORed). */
export const requiredNodeAffinity = z.looseObject({
  nodeAffinity: z
    .looseObject({
      requiredDuringSchedulingIgnoredDuringExecution: z.looseObject({ nodeSelectorTerms: z.array(nodeSelectorTerm) }).optional(),
    })
    .optional(),
});

/**
 * A `gpus[]` or `hostDevices[]` entry (GPU and HostDevice in api/core/v1/schema.go): `deviceName`
 * is the device plugin's resource name and optional since KubeVirt v1.6; a DRA entry names
 * `claimName` (an entry of spec.resourceClaims) and `requestName` instead (GPUsWithDRA and
 * HostDevicesWithDRA, Beta in v1.9).
 */
const deviceRequest = z.looseObject({
  name: z.string(),
  deviceName: z.string().optional(),
  claimName: z.string().optional(),
  requestName: z.string().optional(),
});

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
  spec: z
    .looseObject({
    nodeSelector: z.record(z.string(), z.string()).optional(),
    affinity: requiredNodeAffinity.optional(),
    tolerations: z.array(toleration).optional(),
    /** The VMI's architecture (amd64, arm64, s390x); KubeVirt pins `kubernetes.io/arch` to it. */
    architecture: z.string().optional(),
    domain: z
      .looseObject({
        /** `cpu.model`: host-model pins a migration target to the source's CPU model labels. */
        cpu: z.looseObject({ model: z.string().optional() }).optional(),
        devices: z
          .looseObject({
            gpus: z.array(deviceRequest).optional(),
            hostDevices: z.array(deviceRequest).optional(),
          })
          .optional(),
      })
      .optional(),
  })
    .default({}),
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
// Parsing: lenient (src/kube/lenient-decode.ts). A field group in a shape we cannot read is
// dropped and remembered (unreadableFields); only an object whose identity cannot be read is
// logged and skipped. Nothing is ever thrown, so one odd object cannot stop a list, an informer
// or a reconcile of the others.
// ---------------------------------------------------------------------------------------------

const defaultLog = loggerFor('kubevirt');

function describeObject(obj: unknown): string {
  const meta = (obj as { metadata?: { namespace?: unknown; name?: unknown } } | null)?.metadata;
  const ns = typeof meta?.namespace === 'string' ? `${meta.namespace}/` : '';
  return typeof meta?.name === 'string' ? `${ns}${meta.name}` : '<unnamed>';
}

const META_GROUPS: FieldGroup[] = [
  ['metadata', 'labels'],
  ['metadata', 'annotations'],
  ['metadata', 'generation'],
  ['metadata', 'creationTimestamp'],
  ['metadata', 'deletionTimestamp'],
  ['metadata', 'resourceVersion'],
  ['metadata', 'ownerReferences'],
];

const VMI_GROUPS: FieldGroup[] = [
  ...META_GROUPS,
  ['spec'],
  ['spec', 'nodeSelector'],
  ['spec', 'affinity'],
  ['spec', 'tolerations'],
  ['spec', 'architecture'],
  ['spec', 'domain'],
  ['spec', 'domain', 'cpu'],
  ['spec', 'domain', 'devices'],
  ['spec', 'domain', 'devices', 'gpus'],
  ['spec', 'domain', 'devices', 'hostDevices'],
  ['status'],
  ['status', 'phase'],
  ['status', 'nodeName'],
  ['status', 'migrationState'],
  ['status', 'conditions'],
];

const VMIM_GROUPS: FieldGroup[] = [
  ...META_GROUPS,
  ['spec', 'addedNodeSelector'],
  ['status'],
  ['status', 'phase'],
  ['status', 'migrationState'],
  ['status', 'conditions'],
  ['status', 'phaseTransitionTimestamps'],
];

/**
 * The VMI fields placement and admission read: when one of them could not be decoded, the operator
 * cannot verify a target for the VMI and refuses (never admits it unpinned).
 */
export const VMI_PLACEMENT_FIELDS = [
  'spec.nodeSelector',
  'spec.affinity',
  'spec.tolerations',
  'spec.architecture',
  'spec.domain.cpu',
  'spec.domain.devices',
  'status.phase',
  'status.nodeName',
  'status.conditions',
] as const;

function decodeWith<S extends z.ZodType>(schema: S, groups: readonly FieldGroup[], kind: string, obj: unknown, log: Logger): z.infer<S> | undefined {
  const r = decodeLeniently(schema, obj, groups);
  if (!r.ok) {
    log.warn('Skipped a KubeVirt object whose identity could not be read', { kind, object: describeObject(obj), field: r.field, issue: r.message });
    return undefined;
  }
  if (r.unreadable.length > 0) {
    log.warn('Decoded a KubeVirt object without the fields it could not read', { kind, object: describeObject(obj), unreadable: r.unreadable.map(describeUnreadable) });
  }
  return r.value;
}

export function parseVmi(obj: unknown, log: Logger = defaultLog): Vmi | undefined {
  return decodeWith(vmiSchema, VMI_GROUPS, VMI_KIND, obj, log);
}

export function parseVmim(obj: unknown, log: Logger = defaultLog): Vmim | undefined {
  return decodeWith(vmimSchema, VMIM_GROUPS, VMIM_KIND, obj, log);
}

/**
 * What a cache keeps of a decoded VMI or VMIM: the fields the schema declares (the ones the operator
 * reads), not the rest of KubeVirt's object (disks, interfaces, volumes, guest info, ...), with the
 * fields that could not be decoded still named (lenient decoding).
 */
export function cachedVmi(vmi: Vmi): Vmi {
  return keptWithUnreadable(vmiSchema, vmi);
}

export function cachedVmim(vmim: Vmim): Vmim {
  return keptWithUnreadable(vmimSchema, vmim);
}

function keptWithUnreadable<T extends object>(schema: z.ZodType, obj: T): T {
  const kept = declaredFieldsOnly(schema, obj);
  markUnreadable(kept, unreadableDetails(obj));
  return kept;
}

/** The well-formed items of a list response; those without a readable identity are logged and left out. */
export function parseVmiList(items: readonly unknown[], log: Logger = defaultLog): Vmi[] {
  return items.map((o) => parseVmi(o, log)).filter((v): v is Vmi => v !== undefined);
}

export function parseVmimList(items: readonly unknown[], log: Logger = defaultLog): Vmim[] {
  return items.map((o) => parseVmim(o, log)).filter((v): v is Vmim => v !== undefined);
}

/** The first placement-relevant VMI field that could not be read, with why; undefined when all could. */
export function unreadablePlacementField(vmi: Vmi): UnreadableField | undefined {
  return firstUnreadable(vmi, VMI_PLACEMENT_FIELDS);
}

// ---------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------

export interface VmiDeviceEntry {
  kind: 'gpu' | 'hostDevice';
  name: string;
  /** Device-plugin resource name; absent for a DRA entry. */
  deviceName?: string;
  /** DRA: the spec.resourceClaims entry and the request in it. */
  claimName?: string;
  requestName?: string;
}

/** The VMI's device requests: its `gpus[]` and `hostDevices[]`, in that order (device-plugin and DRA entries). */
export function vmiDeviceRequests(vmi: Vmi): VmiDeviceEntry[] {
  const devices = vmi.spec.domain?.devices;
  const entry = (kind: VmiDeviceEntry['kind'], d: DeviceRequest): VmiDeviceEntry => ({
    kind,
    name: d.name,
    ...(d.deviceName ? { deviceName: d.deviceName } : {}),
    ...(d.claimName ? { claimName: d.claimName } : {}),
    ...(d.requestName ? { requestName: d.requestName } : {}),
  });
  return [...(devices?.gpus ?? []).map((d) => entry('gpu', d)), ...(devices?.hostDevices ?? []).map((d) => entry('hostDevice', d))];
}

/** Device-plugin resource names the VMI requests (DRA entries have none), repeats counted. */
export function vmiResourceNames(vmi: Vmi): string[] {
  return vmiDeviceRequests(vmi).flatMap((d) => (d.deviceName ? [d.deviceName] : []));
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

/**
 * The `kubernetes.io/hostname` value a VMIM pins through `addedNodeSelector`, if it pins one: a
 * label value, which equals the node's name only where the node's hostname label does.
 */
export function vmimPinnedHostname(vmim: Vmim): string | undefined {
  return vmim.spec.addedNodeSelector?.[LABEL_HOSTNAME];
}

/** Why a VMIM failed, as recorded in `status.migrationState.failureReason`. */
export function vmimFailureReason(vmim: Vmim): string | undefined {
  return vmim.status?.migrationState?.failureReason;
}
