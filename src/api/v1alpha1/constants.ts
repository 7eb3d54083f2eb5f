// Names shared by every component that reads or writes the operator's API objects.

export const GROUP = 'mdev-operator.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const KINDS = ['MdevDevice', 'MdevMigration', 'MdevProbe', 'MdevNode'] as const;
export type KindName = (typeof KINDS)[number];

export const PLURALS: Record<KindName, string> = {
  MdevDevice: 'mdevdevices',
  MdevMigration: 'mdevmigrations',
  MdevProbe: 'mdevprobes',
  MdevNode: 'mdevnodes',
};

export const SHORT_NAMES: Record<KindName, string> = {
  MdevDevice: 'mdev',
  MdevMigration: 'mdevmig',
  MdevProbe: 'mdevprobe',
  MdevNode: 'mdevnode',
};

/** `kubectl get mdev` lists every kind of the operator through this category. */
// Not `mdev`: kubectl resolves a category before a short name, so `kubectl get mdev <name>` would
// stop working for devices. `kubectl get mdev-operator` lists every kind.
export const CATEGORY = 'mdev-operator';

/** Label keys: agents select their own node's objects, the controller groups devices by type and version. */
export const LABEL_NODE = `${GROUP}/node`;
export const LABEL_TYPE = `${GROUP}/type`;
export const LABEL_VERSION_HASH = `${GROUP}/version-hash`;

/** The operator's namespace when none is given (flags, chart, manifests). */
export const DEFAULT_NAMESPACE = 'mdev-operator-system';

/**
 * Written on VMIMs by the webhook and read by the controller: the MdevMigration that records an
 * admitted VMIM's decision, the VMIM a record stands for, and where a record came from.
 */
export const ANNOTATION_MIGRATION = `${GROUP}/migration`;
export const ANNOTATION_VMIM = `${GROUP}/vmim`;
export const LABEL_ORIGIN = `${GROUP}/origin`;
/**
 * On every VMIM the operator pins: the target Node's name. addedNodeSelector holds the node's
 * `kubernetes.io/hostname` label value, which need not equal its name.
 */
export const ANNOTATION_TARGET_NODE = `${GROUP}/target-node`;
export const ORIGIN_ADMISSION = 'admission';

/** Server-side-apply field managers, so each writer owns (and only changes) its own fields. */
export const FIELD_MANAGER_AGENT = 'mdev-operator-agent';
export const FIELD_MANAGER_CONTROLLER = 'mdev-operator-controller';

/** Enumerations, exported so code can switch over them without repeating the strings. */
export const DEVICE_KINDS = ['mdev', 'vfio-pci'] as const;
export const BACKENDS = ['sysfs', 'exec', 'nvml', 'simulated'] as const;
/**
 * Which string a device's migrationVersion is, when its backend tells them apart (nvml):
 * Instance = the running device's own state (what a migration sends; a migration source),
 * Class = a key standing for every free device of its type on its parent (a target only).
 */
export const VERSION_KINDS = ['Instance', 'Class'] as const;
export const PHASES = ['Pending', 'Probing', 'Planned', 'Migrating', 'Succeeded', 'Failed'] as const;
export const VERDICTS = ['Compatible', 'Incompatible', 'NoCapacity', 'TypeMismatch', 'AgentUnavailable', 'Excluded'] as const;
export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

/**
 * MdevMigration condition types besides Ready and Progressing: TargetDeviceVerified tells whether
 * the device the VMI got on the target (KubeVirt's device plugin picked it) is in a version class
 * that accepted the source.
 */
export const CONDITION_TARGET_DEVICE_VERIFIED = 'TargetDeviceVerified';

export type DeviceKind = (typeof DEVICE_KINDS)[number];
export type Backend = (typeof BACKENDS)[number];
export type VersionKind = (typeof VERSION_KINDS)[number];
export type Phase = (typeof PHASES)[number];
export type Verdict = (typeof VERDICTS)[number];

/** Bounds the CRD states so the API server's CEL cost estimate stays finite. */
export const LIMITS = {
  /**
   * Candidate verdicts kept in an MdevMigration's status (verdictTotals counts every node). Each
   * entry costs the API server on every status write of a decision (measured: a Planned write with
   * 50 entries took 10.6 ms, with 20 7.9 ms, on the benchmark machine); the chosen node, the other
   * compatible ones and the first rejections fit in 20, and `explain` lists every node.
   */
  candidates: 20,
  devicesPerVmi: 16,
  /** Targets an MdevMigration remembers as failed (maxAttempts is far lower). */
  failedTargets: 16,
  verifiedTargets: 16,
  probeDevices: 256,
  probeParents: 64,
  capacityEntries: 512,
  /** Capacity claims on one MdevNode: in-flight migrations targeting that node. */
  claims: 128,
  targetNodes: 256,
  creationParams: 32,
  conditions: 16,
  message: 1024,
  reason: 1024,
  uid: 128,
} as const;

export const DEADLINE_SECONDS = { default: 900, min: 30, max: 86400 } as const;

/** Bounds of spec.ttlSecondsAfterFinished: 0 (delete once finished) to 30 days. */
export const TTL_SECONDS = { min: 0, max: 2_592_000 } as const;
