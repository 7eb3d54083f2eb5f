// Plain input and output types of the placement engine. Adapters map MdevDevice, Node, Lease and
// VMI objects onto these, so the engine never sees a Kubernetes client type and stays testable on
// plain data.

// ---------------------------------------------------------------------------------------------
// Scheduling constraints (Kubernetes semantics, restated so the engine needs no client types)
// ---------------------------------------------------------------------------------------------

export type NodeSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface NodeSelectorRequirement {
  key: string;
  operator: NodeSelectorOperator;
  values?: string[];
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
  effect: TaintEffect;
}

export interface Toleration {
  /** Empty or absent with operator Exists tolerates every key. */
  key?: string;
  /** Absent means Equal. */
  operator?: 'Exists' | 'Equal';
  value?: string;
  /** Empty or absent tolerates every effect. */
  effect?: TaintEffect | '';
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
}

/** One published device (from an MdevDevice). */
export interface Device {
  /** MdevDevice object name; unique in the cluster. */
  name: string;
  nodeName: string;
  typeId: string;
  parentAddress: string;
  /** The migration-version string; absent when it could not be read. */
  version?: string;
  migratable: boolean;
  /** uid of the VMI using the device; absent = not in use. */
  consumerUid?: string;
  /** uid of the MdevMigration that reserved the device as a target; absent = unreserved. */
  reservedBy?: string;
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
  parentAddress: string;
  version: string;
}

export type SourceResult = { ok: true; source: Source } | { ok: false; reason: string };

/** A target a source device can move to: an existing free device, or a slot to create one in. */
export type TargetRef =
  | { kind: 'device'; nodeName: string; name: string; typeId: string; parentAddress: string; version: string }
  | { kind: 'slot'; nodeName: string; parentAddress: string; typeId: string; version: string };

/** One source device and the target chosen for it. */
export interface DevicePair {
  source: string;
  target: TargetRef;
}

/**
 * Ranking key of a node, compared field by field, lower first: target devices to create (reusing an
 * existing device is faster and cannot fail at creation), free devices of the VMI's types left idle
 * after the move (tighter fit keeps large free pools for large VMIs), devices already in use on the
 * node (least loaded); the node name breaks ties.
 */
export interface Score {
  creates: number;
  leftover: number;
  consumed: number;
}

/** Free targets of one (type, version, kind) on one node, in the order they are handed out. */
export interface TargetPool {
  typeId: string;
  version: string;
  targets: TargetRef[];
}

/** A node that passed every check that does not need the driver's answer. */
export interface CandidateNode {
  name: string;
  /** Pools of the source's types only: device pools before slot pools, then by version. */
  pools: TargetPool[];
  /** Free migratable devices of the source's types (before the move). */
  freeDevices: number;
  consumed: number;
  /** Assignment and score if every class accepted; the order used to choose probe representatives. */
  optimistic: { pairs: DevicePair[]; score: Score };
}

export interface NodeExplanation {
  node: string;
  verdict: Verdict;
  message: string;
}

export interface CandidateFilter {
  /** Sorted by optimistic score, then name. */
  candidates: CandidateNode[];
  /** Nodes rejected before any probe (never Compatible or Incompatible), sorted by name. */
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
