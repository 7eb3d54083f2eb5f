// Target-node choice of the KubeVirt stand-in: what kube-scheduler does for a migration's target
// virt-launcher pod. KubeVirt gives that pod the VMI's nodeSelector, affinity and tolerations, adds
// the VMIM's `addedNodeSelector`, and keeps it off the source node. Pure: plain data in and out.
import type { NodeSelectorTerm, Toleration } from '../../../src/kubevirt/types.ts';

export interface SchedTaint {
  key: string;
  value?: string;
  effect: string;
}

export interface SchedNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** `spec.unschedulable` (cordoned). */
  unschedulable: boolean;
  taints: readonly SchedTaint[];
  /** The node reports Ready other than True. Nodes without a Ready condition count as ready. */
  notReady: boolean;
  /** `status.allocatable`; a resource the node does not list is not checked (nodes created as data list none). */
  allocatable?: Readonly<Record<string, string>>;
}

export interface FitInput {
  sourceNode: string;
  nodeSelector: Readonly<Record<string, string>>;
  /** The VMIM's `spec.addedNodeSelector`; ANDed with the VMI's nodeSelector. */
  addedNodeSelector: Readonly<Record<string, string>>;
  /** Required node-affinity terms (ORed); absent = no affinity constraint. */
  requiredTerms?: readonly NodeSelectorTerm[];
  tolerations: readonly Toleration[];
  /** virt-launcher pods per node, to spread like the scheduler's least-allocated scoring. */
  launcherPods: ReadonlyMap<string, number>;
  /** The pod's resource requests (quantities), checked against each node's allocatable. */
  requests?: Readonly<Record<string, string>>;
}

export type FitResult = { ok: true; node: string } | { ok: false; reason: string };

type Requirement = NonNullable<NodeSelectorTerm['matchExpressions']>[number];

function matchesRequirement(req: Requirement, value: string | undefined): boolean {
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const n = Number.parseInt(value ?? '', 10);
      const bound = Number.parseInt(values[0] ?? '', 10);
      if (Number.isNaN(n) || Number.isNaN(bound)) return false;
      return req.operator === 'Gt' ? n > bound : n < bound;
    }
    default:
      return false;
  }
}

/** Kubernetes semantics: terms are ORed, requirements ANDed, and an empty term matches nothing. */
export function matchesNodeSelectorTerms(terms: readonly NodeSelectorTerm[], node: Pick<SchedNode, 'name' | 'labels'>): boolean {
  return terms.some((t) => {
    const exprs = t.matchExpressions ?? [];
    const fields = t.matchFields ?? [];
    if (exprs.length === 0 && fields.length === 0) return false;
    return (
      exprs.every((r) => matchesRequirement(r, node.labels[r.key])) &&
      fields.every((r) => matchesRequirement(r, r.key === 'metadata.name' ? node.name : undefined))
    );
  });
}

/** kube-scheduler's view of one toleration (k8s.io/api core/v1 toleration.go, with Lt/Gt of 1.35). */
function tolerates(t: Toleration, taint: SchedTaint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  const op = t.operator ?? '';
  if (op === 'Exists') return true;
  if (op === '' || op === 'Equal') return (t.value ?? '') === (taint.value ?? '');
  if (op !== 'Lt' && op !== 'Gt') return false;
  const int = /^-?(0|[1-9][0-9]*)$/;
  if (!int.test(t.value ?? '') || !int.test(taint.value ?? '')) return false;
  const [mine, theirs] = [BigInt(t.value as string), BigInt(taint.value as string)];
  return op === 'Lt' ? theirs < mine : theirs > mine;
}

/** The first NoSchedule/NoExecute taint no toleration covers (other effects never block). */
export function untoleratedTaint(taints: readonly SchedTaint[], tolerations: readonly Toleration[]): SchedTaint | undefined {
  return taints.find((taint) => (taint.effect === 'NoSchedule' || taint.effect === 'NoExecute') && !tolerations.some((t) => tolerates(t, taint)));
}

/** Why `node` cannot take the target pod, in kube-scheduler's words, or undefined when it fits. */
export function misfit(node: SchedNode, input: FitInput): string | undefined {
  if (node.name === input.sourceNode) return 'node(s) were the migration source';
  if (node.unschedulable) return 'node(s) were unschedulable';
  if (node.notReady) return 'node(s) were not ready';
  const selector = { ...input.nodeSelector, ...input.addedNodeSelector };
  const selectorOk = Object.entries(selector).every(([k, v]) => node.labels[k] === v);
  const conflicting = Object.entries(input.addedNodeSelector).some(([k, v]) => k in input.nodeSelector && input.nodeSelector[k] !== v);
  if (!selectorOk || conflicting || (input.requiredTerms && !matchesNodeSelectorTerms(input.requiredTerms, node))) {
    return "node(s) didn't match Pod's node affinity/selector";
  }
  const taint = untoleratedTaint(node.taints, input.tolerations);
  if (taint) return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
  // NodeResourcesFit, simplified: the pod's requests against allocatable, other pods' not summed.
  for (const [resource, quantity] of Object.entries(input.requests ?? {})) {
    const allocatable = node.allocatable?.[resource];
    if (allocatable === undefined) continue;
    const [want, have] = [parseQuantity(quantity), parseQuantity(allocatable)];
    if (want !== undefined && have !== undefined && want > have) return `Insufficient ${resource}`;
  }
  return undefined;
}

const QUANTITY_SUFFIX: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** A Kubernetes quantity (`512Mi`, `1Gi`, `2`, `1500M`) as a number; undefined when not one of these forms. */
export function parseQuantity(q: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([kMGT]i?|Ki)?$/.exec(q.trim());
  if (!m) return undefined;
  const factor = QUANTITY_SUFFIX[m[2] ?? ''];
  return factor === undefined ? undefined : Number(m[1]) * factor;
}

/**
 * The node the target pod would be scheduled to: among fitting nodes, the one with the fewest
 * virt-launcher pods, then by name (deterministic). Without one, a kube-scheduler style summary:
 * `0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match ...`.
 */
export function chooseTargetNode(nodes: readonly SchedNode[], input: FitInput): FitResult {
  const fitting: string[] = [];
  const reasons = new Map<string, number>();
  for (const node of nodes) {
    const why = misfit(node, input);
    if (why === undefined) fitting.push(node.name);
    else reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  if (fitting.length > 0) {
    const load = (n: string): number => input.launcherPods.get(n) ?? 0;
    fitting.sort((a, b) => load(a) - load(b) || (a < b ? -1 : a > b ? 1 : 0));
    return { ok: true, node: fitting[0] as string };
  }
  const summary = [...reasons].sort(([a], [b]) => a.localeCompare(b)).map(([why, n]) => `${n} ${why}`);
  return { ok: false, reason: `0/${nodes.length} nodes are available${summary.length ? `: ${summary.join(', ')}` : ''}.` };
}
