// Plain input and output types of the placement engine. Adapters map MdevDevice, Node, Lease and
// VMI objects onto these, so the engine never sees a Kubernetes client type and stays testable on
// plain data.

// ---------------------------------------------------------------------------------------------
// Scheduling constraints (Kubernetes semantics, restated so the engine needs no client types)
// ---------------------------------------------------------------------------------------------

/** Known operators; others (a newer Kubernetes') are kept as strings and match nothing. */
export type NodeSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface NodeSelectorRequirement {
  key: string;
  operator: NodeSelectorOperator | (string & {});
  values?: string[] | null;
}

/** Expressions within a term are ANDed; a term without any expression matches no node (as in Kubernetes). */
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  /** Kubernetes supports only the field `metadata.name` here. */
  matchFields?: NodeSelectorRequirement[];
}

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface Taint {
  key: string;
  value?: string;
  /** A known effect, or one a newer Kubernetes added (kept, never blocks: see untoleratedTaint). */
  effect: TaintEffect | (string & {});
}

/** Equal and Exists; Lt and Gt (Kubernetes 1.35+) compare integer values. */
export type TolerationOperator = 'Exists' | 'Equal' | 'Lt' | 'Gt';

export interface Toleration {
  /** Empty or absent with operator Exists tolerates every key. */
  key?: string;
  /** Absent or empty means Equal; an unknown operator tolerates nothing. */
  operator?: TolerationOperator | (string & {});
  value?: string;
  /** Empty or absent tolerates every effect. */
  effect?: TaintEffect | (string & {});
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/** The VMI to move (from `kubevirt.io/v1` VirtualMachineInstance). */
export interface SourceVm {
  namespace: string;
  name: string;
  uid: string;
  /** `status.nodeName`; empty when the VMI is not running anywhere. */
  nodeName: string;
  nodeSelector: Record<string, string>;
  /** `spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`; terms are ORed. */
  requiredAffinity?: NodeSelectorTerm[];
  tolerations: Toleration[];
  /**
   * A field placement reads that could not be decoded, with why (`spec.tolerations (...)`): the
   * engine cannot check any target against it and refuses the VMI (fail closed).
   */
  unreadable?: string;
  /**
   * The node label a migration pins its target with (`kubernetes.io/hostname`); a node without it
   * cannot be pinned and is Excluded. Absent = no such requirement.
   */
  pinLabel?: string;
  /** Node labels KubeVirt's target pod selects besides the VMI's own, each with why. */
  kubevirtLabels?: { key: string; value: string; why: string }[];
  /** Where KubeVirt's virt-handler runs (the KubeVirt CR's spec.workloads.nodePlacement). */
  kubevirtPlacement?: { nodeSelector: Record<string, string>; requiredTerms?: NodeSelectorTerm[]; tolerations: Toleration[] };
  /** Why KubeVirt could place the target on no node at all (every node is Excluded with it). */
  kubevirtError?: string;
}

/** One published device (from an MdevDevice). */
export interface Device {
  /** MdevDevice object name; unique in the cluster. */
  name: string;
  nodeName: string;
  typeId: string;
  /**
   * The device-plugin resource the device is advertised under (its pool): KubeVirt's mediated-device
   * plugin groups a node's mdevs by type name, and the kubelet hands a pod any free device of the
   * resource it requests. Devices of one pool on one node are interchangeable to KubeVirt.
   */
  pool: string;
  parentAddress: string;
  /** The migration-version string; absent when it could not be read. */
  version?: string;
  migratable: boolean;
  /** uid of the workload holding the device (a VMI, or a non-VMI pod); absent = free. */
  consumerUid?: string;
}

/**
 * Units of a (node, pool) promised to an in-flight migration: the target pod it creates will take
 * that many free devices of the pool, whichever the device plugin picks.
 */
export interface Claim {
  nodeName: string;
  pool: string;
  migrationUid: string;
  units: number;
}

/**
 * Spare slots for creating a duplicate device of `typeId` on a parent (its `available_instances`
 * and the type-level version string). Used only when the request allows creating a target.
 * Adapters subtract creations already reserved by in-flight migrations from `availableInstances`.
 */
export interface Capacity {
  nodeName: string;
  parentAddress: string;
  typeId: string;
  /** The pool a device created here joins (see Device.pool). */
  pool: string;
  availableInstances: number;
  version?: string;
}

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  /** `spec.unschedulable` (cordoned). */
  unschedulable: boolean;
  /** Whether the node's agent Lease `mdev-agent.<node>` is current. */
  agentFresh: boolean;
  /** Set (with why) when the agent is not known to be fresh but not known to be gone either: not a target, and not a final verdict. */
  agentUnknown?: string;
  /** Node fields that could not be decoded, with why: such a node is Excluded (never a verified target). */
  unreadable?: string;
}

/** The parts of an MdevMigration the engine needs. */
export interface Request {
  migrationUid: string;
  /** Allow-list of target nodes; absent or empty = any node. */
  targetNodes?: string[];
  allowCreateTarget: boolean;
}

// ---------------------------------------------------------------------------------------------
// Engine values
// ---------------------------------------------------------------------------------------------

export type Verdict = 'Compatible' | 'Incompatible' | 'NoCapacity' | 'TypeMismatch' | 'AgentUnavailable' | 'Excluded';

/** The resolved source: the VMI, its node and its devices (sorted by name, all migratable). */
export interface Source {
  vm: SourceVm;
  nodeName: string;
  devices: SourceDevice[];
  /** Distinct source versions per type, sorted; usually one per type. */
  versionsByType: Map<string, string[]>;
}

export interface SourceDevice {
  name: string;
  typeId: string;
  /** The resource the VMI's target pod requests for it (see Device.pool). */
  pool: string;
  parentAddress: string;
  version: string;
}

export type SourceResult = { ok: true; source: Source } | { ok: false; reason: string };

/**
 * A target: an existing free device, or a slot to create one in. Since the device plugin picks
 * the device, a device target stands for one unit of its pool (the representative that was, or
 * would be, probed), not for the device the VMI will get.
 */
export type TargetRef =
  | { kind: 'device'; nodeName: string; name: string; typeId: string; pool: string; parentAddress: string; version: string }
  | { kind: 'slot'; nodeName: string; parentAddress: string; typeId: string; pool: string; version: string };

/** One source device and the unit of its pool on the target node it takes (or the slot to create). */
export interface DevicePair {
  source: string;
  target: TargetRef;
}

/**
 * Ranking key of a node, compared field by field, lower first: target devices to create (reusing an
 * existing device is faster and cannot fail at creation), unclaimed free devices of the VMI's pools
 * left idle after the move (tighter fit keeps large free pools for large VMIs), devices already in
 * use on the node (least loaded); the node name breaks ties.
 */
export interface Score {
  creates: number;
  leftover: number;
  consumed: number;
}

/**
 * One version class of one pool on one node: free devices (or creatable slots) of one type that
 * publish the same version string, in the order they are used as representatives.
 */
export interface TargetPool {
  typeId: string;
  pool: string;
  version: string;
  targets: TargetRef[];
}

/** One pool the VMI needs, as it stands on a candidate node. */
export interface ResourcePool {
  pool: string;
  typeId: string;
  /** Units the VMI needs (its devices in this pool). */
  wanted: number;
  /** Free devices of the pool: the device plugin may hand out any of them. */
  free: number;
  /** `free` minus units other migrations claimed; may be negative when they overcommitted. */
  available: number;
  /** Indices into CandidateNode.pools: every class of free devices (all must accept the source). May be shared: never mutate. */
  deviceClasses: readonly number[];
  /** Indices into CandidateNode.pools: classes of creatable slots (allowCreateTarget). May be shared: never mutate. */
  slotClasses: readonly number[];
}

/** A node that passed every check that does not need the driver's answer. */
export interface CandidateNode {
  name: string;
  /** Version classes of the source's pools: device classes before slot classes, then by version. Shared with the fleet index: never mutate. */
  pools: readonly TargetPool[];
  /** The pools the VMI needs, in the order of its source devices' pools. */
  resources: ResourcePool[];
  /** Unclaimed free devices of the VMI's pools (before the move). */
  freeDevices: number;
  consumed: number;
  /** Assignment and score if every class accepted; the order used to choose probe representatives. */
  optimistic: { pairs: DevicePair[]; score: Score };
}

export interface NodeExplanation {
  node: string;
  verdict: Verdict;
  message: string;
  /**
   * NoCapacity only because other in-flight migrations claim the units: when they end, their
   * claims go and the node may have room (a failed one frees its unit; a successful one's VMI may
   * hold it a moment before its claim is released, which counts it twice until then).
   */
  claimBound?: true;
}

export interface CandidateFilter {
  /** Sorted by optimistic score, then name. */
  candidates: CandidateNode[];
  /**
   * Nodes rejected before any probe, sorted by name: AgentUnavailable, Excluded, TypeMismatch,
   * NoCapacity, and Incompatible for a pool holding a free device no answer could make acceptable
   * (not migratable, or of another type).
   */
  rejected: NodeExplanation[];
}

/** Candidate targets of one type that share a version string: by contract they answer alike. */
export interface EquivalenceClass {
  typeId: string;
  version: string;
  /** How many candidate targets (devices plus slots) are in the class. */
  size: number;
  /** Nodes holding the class, in candidate order. */
  nodes: string[];
  /** What to probe for the class: the targets the best-ranked node holding it would use. */
  preferred: TargetRef[];
}

/** "Agent on nodeName: do you accept sourceVersion on these targets?" (one MdevProbe). */
export interface ProbeRequest {
  nodeName: string;
  typeId: string;
  sourceVersion: string;
  targets: TargetRef[];
}

export interface ProbeResult {
  /** `targetId(target)` of a target in the request. */
  target: string;
  accepted: boolean;
  reason?: string;
}

export interface ProbeAnswer {
  request: ProbeRequest;
  results: ProbeResult[];
}

/** The verdict for (type, source version, target version) as this decision knows it. */
export interface ClassVerdict {
  accepted: boolean;
  reason?: string;
  origin: 'cache' | 'probe';
  /** Targets whose own probe in this decision gave this answer (empty for cache verdicts). */
  probedTargets: string[];
}

/** Keyed by `verdictKey(typeId, sourceVersion, targetVersion)`. */
export type VerdictMap = Map<string, ClassVerdict>;

export interface ProbePlan {
  classes: EquivalenceClass[];
  probes: ProbeRequest[];
  /** Verdicts known before probing (from the cache). */
  verdicts: VerdictMap;
  /** (source version, class) pairs without a cached verdict. */
  unknownPairs: number;
}

export interface RankedNode {
  node: string;
  score: Score;
  pairs: DevicePair[];
}

/** `ranking` and `explanations` are built on first read (getters on the engine's class) and kept: read them only where shown, by name (a spread or JSON.stringify leaves them out). */
export interface Decision {
  /** Best node first; empty when no node is Compatible. */
  ranking: RankedNode[];
  chosen: RankedNode | null;
  /** True when a chosen target's verdict came from the cache or from probing another target. */
  needsConfirmation: boolean;
  /** Probes that cover exactly the chosen targets still needing confirmation. */
  confirmationProbes: ProbeRequest[];
  /** Every node but the source: chosen first, then by verdict, then by name. */
  explanations: NodeExplanation[];
  totals: Record<Verdict, number>;
  /** Why nothing was chosen; empty when a node was chosen. */
  reason: string;
}
