// Adapters from what the informers hold (MdevDevice, MdevNode, Node, agent Lease, VMI,
// MdevMigration) to the placement engine's plain types. This is the only place where Kubernetes
// shapes meet the engine: everything the engine needs is copied out here, so the engine never
// sees a client type and a decision depends only on the snapshot it was given.
import { z } from 'zod';
import { decodeLeniently, describeUnreadable, type FieldGroup } from '../kube/lenient-decode.ts';
import { AGENT_LEASE_PREFIX, type MdevMigration } from '../api/v1alpha1/index.ts';
import type { CachedDevice, CachedMdevNode } from './cached-objects.ts';
import { leaseExpiresAt } from '../kube/lease-heartbeat.ts';
import type { Vmi } from '../kubevirt/types.ts';
import { LABEL_HOSTNAME, unreadablePlacementField, vmiRequiredNodeTerms } from '../kubevirt/types.ts';
import { kubevirtTargetRequirements, type KubevirtCluster } from '../kubevirt/target-constraints.ts';
import { mdevPoolKey } from '../kubevirt/device-plugin.ts';
import { indexDevices, sortNodes, type Capacity, type Claim, type Device, type DeviceIndex, type Fleet, type NodeInfo, type NodeSelectorTerm, type Request, type SourceVm, type Taint, type Toleration } from '../placement/index.ts';
import { activeClaims, claimExpiresAt } from './claims.ts';

// ---------------------------------------------------------------------------------------------
// Core objects: only the fields placement reads, validated on the way in.
// ---------------------------------------------------------------------------------------------

const nodeSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string().min(1), labels: z.record(z.string(), z.string()).optional() }),
  spec: z
    .looseObject({
      unschedulable: z.boolean().optional(),
      // Effects are strings: one a newer Kubernetes adds is kept (and, like kube-scheduler's
      // TaintToleration filter, never blocks).
      taints: z.array(z.looseObject({ key: z.string(), value: z.string().optional(), effect: z.string() })).optional(),
    })
    .optional(),
});

const NODE_GROUPS: FieldGroup[] = [['metadata', 'labels'], ['spec'], ['spec', 'unschedulable'], ['spec', 'taints']];

export interface NodeObject {
  name: string;
  labels: Record<string, string>;
  unschedulable: boolean;
  taints: Taint[];
  /** Fields that could not be read (with why): such a node is never a verified target. */
  unreadable?: string;
}

/**
 * A Node as placement needs it, decoded leniently: a field that cannot be read is dropped and
 * named in `unreadable` (placement then excludes the node); undefined only without a name.
 */
export function parseNode(raw: unknown): NodeObject | undefined {
  const r = decodeLeniently(nodeSchema, raw, NODE_GROUPS);
  if (!r.ok) return undefined;
  const n = r.value;
  const taints: Taint[] = (n.spec?.taints ?? []).map((t) => ({ key: t.key, effect: t.effect, ...(t.value !== undefined ? { value: t.value } : {}) }));
  const node: NodeObject = { name: n.metadata.name, labels: n.metadata.labels ?? {}, unschedulable: n.spec?.unschedulable === true, taints };
  if (r.unreadable.length > 0) node.unreadable = r.unreadable.map(describeUnreadable).join('; ');
  return node;
}

const leaseSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string().min(1) }),
  spec: z
    .looseObject({
      holderIdentity: z.string().nullable().optional(),
      leaseDurationSeconds: z.number().nullable().optional(),
      renewTime: z.string().nullable().optional(),
    })
    .optional(),
});

/** An agent Lease: the node it stands for and what freshness depends on. */
export interface AgentLease {
  name: string;
  nodeName: string;
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  renewTime?: string;
}

/** Only Leases named `mdev-agent.<node>` are agent leases; others in the namespace are ignored. */
export function parseAgentLease(raw: unknown): AgentLease | undefined {
  const r = leaseSchema.safeParse(raw);
  if (!r.success || !r.data.metadata.name.startsWith(AGENT_LEASE_PREFIX)) return undefined;
  const s = r.data.spec;
  const lease: AgentLease = { name: r.data.metadata.name, nodeName: r.data.metadata.name.slice(AGENT_LEASE_PREFIX.length) };
  if (s?.holderIdentity) lease.holderIdentity = s.holderIdentity;
  if (typeof s?.leaseDurationSeconds === 'number') lease.leaseDurationSeconds = s.leaseDurationSeconds;
  if (s?.renewTime) lease.renewTime = s.renewTime;
  return lease;
}

/** When an agent lease lapses (NaN when it never binds: no holder, duration or renew time). */
export function agentLeaseExpiresAt(lease: AgentLease | undefined): number {
  if (!lease) return Number.NaN;
  return leaseExpiresAt({ spec: { holderIdentity: lease.holderIdentity, leaseDurationSeconds: lease.leaseDurationSeconds, renewTime: lease.renewTime } });
}

export function agentLeaseFresh(lease: AgentLease | undefined, now: number): boolean {
  return agentLeaseExpiresAt(lease) > now;
}

/**
 * An agent judged from its Lease AND from how current the Lease cache is (issue 18). A lease that
 * looks expired proves the agent is gone only if the controller could have seen a renewal: it must
 * have watched Leases without a gap, with the API server ready (`currentSince`), for at least one
 * lease duration. Until then the agent is `unknown` (not a target, not a reason to fail either);
 * after an outage its agent gets one lease duration to renew, as a live agent does in normal times.
 * A missing lease is judged only from a current cache. `until`: when this verdict can next change.
 */
export type AgentState = { state: 'fresh'; until: number } | { state: 'unknown'; until: number; message: string } | { state: 'expired' };

const iso = (ms: number): string => new Date(ms).toISOString();

export function agentState(lease: AgentLease | undefined, now: number, currentSince = Number.NEGATIVE_INFINITY): AgentState {
  const expires = agentLeaseExpiresAt(lease);
  if (expires > now) return { state: 'fresh', until: expires };
  const name = lease?.name ?? 'its agent lease';
  if (currentSince === Number.POSITIVE_INFINITY) {
    return { state: 'unknown', until: Number.POSITIVE_INFINITY, message: `${name} cannot be judged: the controller's caches are behind the API server (relisting after an outage)` };
  }
  if (!lease || !Number.isFinite(expires)) return { state: 'expired' };
  const graceEnd = currentSince + (lease.leaseDurationSeconds ?? 0) * 1000;
  if (now < graceEnd) {
    return {
      state: 'unknown',
      until: graceEnd,
      message: `${name} looks expired (renewed ${lease.renewTime ?? 'never'}), but the controller has seen Lease updates only since ${iso(currentSince)}: waiting until ${iso(graceEnd)} for a renewal before treating the agent as unavailable`,
    };
  }
  return { state: 'expired' };
}

// ---------------------------------------------------------------------------------------------
// Operator objects
// ---------------------------------------------------------------------------------------------

export function toDevice(d: CachedDevice): Device {
  const status = d.status;
  const device: Device = {
    name: d.metadata.name,
    nodeName: d.spec.nodeName,
    typeId: d.spec.type.id,
    pool: mdevPoolKey(d.spec.type),
    parentAddress: d.spec.parent.address,
    migratable: status?.migratable === true && status.migrationVersion !== undefined,
  };
  if (status?.migrationVersion !== undefined) device.version = status.migrationVersion;
  if (status?.consumer) device.consumerUid = status.consumer.uid;
  return device;
}

/** The capacity claims of a node that bind at `now`, as the engine reads them. */
export function toClaims(n: CachedMdevNode, now: number): Claim[] {
  return activeClaims(n, now).map((c) => ({ nodeName: n.metadata.name, pool: c.pool, migrationUid: c.migration.uid, units: c.units }));
}

/** Spare capacity of a node; `pendingCreates` (parent/type -> count) are slots already promised to migrations. */
export function toCapacity(n: CachedMdevNode, pendingCreates: ReadonlyMap<string, number> = new Map()): Capacity[] {
  const out: Capacity[] = [];
  for (const c of n.spec.capacity ?? []) {
    if (!c.migratable || c.migrationVersion === undefined) continue;
    const promised = pendingCreates.get(`${c.parent.address}/${c.type.id}`) ?? 0;
    const available = Math.max(0, c.availableInstances - promised);
    if (available === 0) continue;
    out.push({ nodeName: n.spec.nodeName, parentAddress: c.parent.address, typeId: c.type.id, pool: mdevPoolKey(c.type), availableInstances: available, version: c.migrationVersion });
  }
  return out;
}

export function toNodeInfo(node: NodeObject, lease: AgentLease | undefined, now: number, currentSince?: number): NodeInfo {
  const agent = agentState(lease, now, currentSince);
  const info: NodeInfo = { name: node.name, labels: node.labels, taints: node.taints, unschedulable: node.unschedulable, agentFresh: agent.state === 'fresh' };
  if (agent.state === 'unknown') info.agentUnknown = agent.message;
  if (node.unreadable) info.unreadable = node.unreadable;
  return info;
}

function toTolerations(vmi: Vmi): Toleration[] {
  return (vmi.spec.tolerations ?? []).map((t) => {
    const out: Toleration = {};
    if (t.key !== undefined) out.key = t.key;
    if (t.operator !== undefined) out.operator = t.operator;
    if (t.value !== undefined) out.value = t.value;
    if (t.effect !== undefined) out.effect = t.effect;
    return out;
  });
}

/** What KubeVirt's own target constraints depend on besides the VMI. */
export interface KubevirtContext {
  /** The VMI's node (its labels carry the host-model CPU and vendor). */
  sourceNode?: { name: string; labels: Record<string, string> };
  /** The KubeVirt CR's constraints; absent without a readable CR. */
  cluster?: KubevirtCluster;
}

export function toSourceVm(vmi: Vmi, kubevirt: KubevirtContext = {}): SourceVm {
  const vm: SourceVm = {
    namespace: vmi.metadata.namespace,
    name: vmi.metadata.name,
    uid: vmi.metadata.uid,
    nodeName: vmi.status?.phase === 'Running' ? (vmi.status.nodeName ?? '') : '',
    nodeSelector: vmi.spec.nodeSelector ?? {},
    tolerations: toTolerations(vmi),
  };
  const terms = vmiRequiredNodeTerms(vmi);
  if (terms) vm.requiredAffinity = terms as NodeSelectorTerm[];
  const unreadable = unreadablePlacementField(vmi);
  if (unreadable) vm.unreadable = describeUnreadable(unreadable);
  // A migration pins its target through addedNodeSelector on the node's hostname label.
  vm.pinLabel = LABEL_HOSTNAME;
  const requirements = kubevirtTargetRequirements(vmi, kubevirt.sourceNode, kubevirt.cluster);
  vm.kubevirtLabels = requirements.labels;
  if (requirements.error) vm.kubevirtError = requirements.error;
  if (kubevirt.cluster?.workloadPlacement) vm.kubevirtPlacement = kubevirt.cluster.workloadPlacement as SourceVm['kubevirtPlacement'];
  return vm;
}

export function toRequest(m: MdevMigration): Request {
  const req: Request = { migrationUid: m.metadata.uid ?? '', allowCreateTarget: m.spec.allowCreateTarget };
  if (m.spec.targetNodes && m.spec.targetNodes.length > 0) req.targetNodes = [...m.spec.targetNodes];
  return req;
}

// ---------------------------------------------------------------------------------------------
// The whole picture
// ---------------------------------------------------------------------------------------------

/** What the caches hold at one moment; plain lists so tests can build one without informers. */
export interface ClusterView {
  nodes: readonly NodeObject[];
  leases: readonly AgentLease[];
  devices: readonly CachedDevice[];
  mdevNodes: readonly CachedMdevNode[];
  /**
   * Since when the Lease cache has been current and the API server ready (see agentState);
   * +Infinity while behind; absent = always (no grace, e.g. a view built by hand).
   */
  currentSince?: number;
}

/** Change keys of the two halves of a ClusterView (see ControllerCaches.viewRevision). */
export interface ViewRevision {
  nodes: string;
  devices: string;
}

export interface Snapshot {
  fleet: Fleet;
  devices: Device[];
}

export interface SnapshotOptions {
  now: number;
  /** Nodes left out entirely (a failed earlier attempt); the caller explains them. */
  omitNodes?: ReadonlySet<string>;
  /** Nodes whose agent did not answer a probe recently: treated like an expired lease. */
  unresponsive?: ReadonlySet<string>;
}

export function buildSnapshot(view: ClusterView, opts: SnapshotOptions): Snapshot {
  return joinSnapshot(buildNodeHalf(view, opts), buildDeviceHalf(view, opts.now));
}

/**
 * A snapshot in two halves that change at different rates. Agents renew their Leases every few
 * seconds, so at 1,000 nodes the node half changes many times a second; the device half (thousands
 * of devices) changes only when a device, a reservation or spare capacity does. Each half says until
 * when it holds without any event: the first lease or reservation to lapse.
 */
export interface NodeHalf {
  nodes: NodeInfo[];
  validUntil: number;
  /** Nodes whose agent state is unknown (lease expired-looking in a cache that has not been current long enough). */
  unknownAgents: string[];
}

export interface DeviceHalf {
  devices: Device[];
  index: DeviceIndex;
  validUntil: number;
}

export function buildNodeHalf(view: Pick<ClusterView, 'nodes' | 'leases' | 'currentSince'>, opts: SnapshotOptions): NodeHalf {
  const leases = new Map(view.leases.map((l) => [l.nodeName, l]));
  const nodes: NodeInfo[] = [];
  const unknownAgents: string[] = [];
  let validUntil = Number.POSITIVE_INFINITY;
  for (const n of view.nodes) {
    if (opts.omitNodes?.has(n.name)) continue;
    const agent = agentState(leases.get(n.name), opts.now, view.currentSince);
    const info = toNodeInfo(n, leases.get(n.name), opts.now, view.currentSince);
    if (opts.unresponsive?.has(n.name)) {
      info.agentFresh = false;
      delete info.agentUnknown;
    } else if (agent.state !== 'expired') {
      validUntil = Math.min(validUntil, agent.until);
      if (agent.state === 'unknown') unknownAgents.push(n.name);
    }
    nodes.push(info);
  }
  return { nodes: sortNodes(nodes), validUntil, unknownAgents: unknownAgents.sort() };
}

export function buildDeviceHalf(view: Pick<ClusterView, 'devices' | 'mdevNodes'>, now: number): DeviceHalf {
  let validUntil = Number.POSITIVE_INFINITY;
  const devices = view.devices.map(toDevice);
  const capacity: Capacity[] = [];
  const claims: Claim[] = [];
  for (const n of view.mdevNodes) {
    capacity.push(...toCapacity(n));
    for (const c of activeClaims(n, now)) {
      claims.push({ nodeName: n.metadata.name, pool: c.pool, migrationUid: c.migration.uid, units: c.units });
      validUntil = Math.min(validUntil, claimExpiresAt(c));
    }
  }
  return { devices, index: indexDevices(devices, capacity, claims), validUntil };
}

export function joinSnapshot(nodes: NodeHalf, devices: DeviceHalf): Snapshot {
  return { fleet: { nodes: nodes.nodes, ...devices.index }, devices: devices.devices };
}
