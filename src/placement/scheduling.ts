// Would the scheduler place the VMI's target pod on this node? KubeVirt creates the target pod and
// the scheduler must accept it, so a node we choose must pass the same checks; these follow the
// Kubernetes rules (component-helpers nodeaffinity, corev1 Toleration.ToleratesTaint).

import type { NodeInfo, NodeSelectorRequirement, NodeSelectorTerm, SourceVm, Taint, Toleration } from './types.ts';

/**
 * Kubernetes `Toleration.ToleratesTaint` (staging/src/k8s.io/api/core/v1/toleration.go, 1.35+):
 * empty or Equal compares values, Exists matches any value, Lt/Gt compare the values as decimal
 * integers — Lt tolerates a taint whose value is less than the toleration's, Gt one whose value is
 * greater — and any other operator (a newer Kubernetes') tolerates nothing.
 */
export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? '') {
    case '':
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    case 'Lt':
    case 'Gt': {
      const bound = parseDecimalInteger(toleration.value);
      const actual = parseDecimalInteger(taint.value);
      if (bound === undefined || actual === undefined) return false;
      return toleration.operator === 'Lt' ? actual < bound : actual > bound;
    }
    default:
      return false;
  }
}

const DECIMAL_INTEGER_RE = /^-?(0|[1-9][0-9]*)$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An int64 in canonical decimal form (no sign other than '-', no leading zeros), as Kubernetes parses toleration values. */
function parseDecimalInteger(value: string | undefined): bigint | undefined {
  if (value === undefined || !DECIMAL_INTEGER_RE.test(value)) return undefined;
  const n = BigInt(value);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

export function formatTaint(taint: Taint): string {
  return `${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect}`;
}

/**
 * The first taint that blocks scheduling and is not tolerated. Like kube-scheduler's TaintToleration
 * filter, only NoSchedule and NoExecute block: PreferNoSchedule only lowers the score, and an
 * effect a newer Kubernetes adds is kept on the node but not filtered on.
 */
export function untoleratedTaint(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint | undefined {
  return taints.find((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerations.some((tol) => tolerates(tol, t)));
}

const INTEGER_RE = /^[+-]?\d+$/;

function parseInteger(value: string | undefined): bigint | undefined {
  return value !== undefined && INTEGER_RE.test(value) ? BigInt(value) : undefined;
}

/** One requirement against a key/value map (labels, or `metadata.name` for matchFields). */
export function requirementMatches(req: NodeSelectorRequirement, values: Record<string, string>): boolean {
  const has = Object.hasOwn(values, req.key);
  const value = has ? values[req.key] : undefined;
  const wanted = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return has && wanted.includes(value as string);
    case 'NotIn':
      return !has || !wanted.includes(value as string);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      // Kubernetes requires exactly one integer value; anything else matches nothing.
      const bound = wanted.length === 1 ? parseInteger(wanted[0]) : undefined;
      const actual = parseInteger(value);
      if (bound === undefined || actual === undefined) return false;
      return req.operator === 'Gt' ? actual > bound : actual < bound;
    }
    default:
      return false;
  }
}

function termMatches(term: NodeSelectorTerm, node: NodeInfo): boolean {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (expressions.length === 0 && fields.length === 0) return false;
  const nodeFields = { 'metadata.name': node.name };
  return expressions.every((r) => requirementMatches(r, node.labels)) && fields.every((r) => requirementMatches(r, nodeFields));
}

/** Required node affinity: terms are ORed; no terms means no constraint. */
export function affinityMatches(terms: readonly NodeSelectorTerm[] | undefined, node: NodeInfo): boolean {
  if (!terms || terms.length === 0) return true;
  return terms.some((term) => termMatches(term, node));
}

/** The first `nodeSelector` entry the node's labels do not satisfy. */
export function unmatchedSelector(selector: Record<string, string>, labels: Record<string, string>): [string, string] | undefined {
  for (const key of Object.keys(selector).sort()) {
    const want = selector[key] as string;
    if (!Object.hasOwn(labels, key) || labels[key] !== want) return [key, want];
  }
  return undefined;
}

/**
 * Why the node cannot take the VMI, or undefined when it can. Cordoned nodes are refused even when
 * the VMI tolerates the unschedulable taint: a cordoned node is usually being drained, and moving a
 * VM onto it only means moving it again.
 */
export function exclusionReason(vm: SourceVm, node: NodeInfo, allowList: ReadonlySet<string> | undefined): string | undefined {
  return exclusionCheck(vm, allowList)(node);
}

/** `exclusionReason` with the VMI's side prepared once, for checking a whole fleet. */
export function exclusionCheck(vm: SourceVm, allowList: ReadonlySet<string> | undefined): (node: NodeInfo) => string | undefined {
  const selectorKeys = Object.keys(vm.nodeSelector).sort();
  // Most VMIs carry no rule beyond taints and cordons: then most nodes need no further look.
  const unconstrained = selectorKeys.length === 0 && !vm.requiredAffinity?.length && !vm.pinLabel && !vm.kubevirtError && !vm.kubevirtLabels?.length && !vm.kubevirtPlacement;
  return (node) => {
    if (allowList && !allowList.has(node.name)) return 'not in spec.targetNodes';
    if (node.unreadable) return `the Node object could not be read: ${node.unreadable}`;
    if (node.unschedulable) return 'cordoned';
    const taint = node.taints.length > 0 ? untoleratedTaint(node.taints, vm.tolerations) : undefined;
    if (taint) return `taint ${formatTaint(taint)} not tolerated`;
    if (unconstrained) return undefined;
    for (const key of selectorKeys) {
      const want = vm.nodeSelector[key] as string;
      if (Object.hasOwn(node.labels, key) && node.labels[key] === want) continue;
      const have = Object.hasOwn(node.labels, key) ? `is ${node.labels[key]}` : 'is absent';
      return `nodeSelector ${key}=${want} not matched (label ${have})`;
    }
    if (!affinityMatches(vm.requiredAffinity, node)) return 'required node affinity not satisfied (no term matches)';
    return kubevirtExclusion(vm, node);
  };
}

const NO_LABELS: NonNullable<SourceVm['kubevirtLabels']> = [];

/** KubeVirt's own target constraints (src/kubevirt/target-constraints.ts) and the pin label. */
function kubevirtExclusion(vm: SourceVm, node: NodeInfo): string | undefined {
  if (vm.pinLabel && !Object.hasOwn(node.labels, vm.pinLabel)) return `no ${vm.pinLabel} label: a migration cannot pin its target to this node`;
  if (vm.kubevirtError) return vm.kubevirtError;
  for (const r of vm.kubevirtLabels ?? NO_LABELS) {
    if (Object.hasOwn(node.labels, r.key) && node.labels[r.key] === r.value) continue;
    const have = Object.hasOwn(node.labels, r.key) ? `is ${node.labels[r.key]}` : 'is absent';
    return `KubeVirt requires ${r.key}=${r.value} on the target (label ${have}): ${r.why}`;
  }
  const p = vm.kubevirtPlacement;
  if (p) {
    const miss = unmatchedSelector(p.nodeSelector, node.labels);
    const taint = node.taints.length > 0 ? untoleratedTaint(node.taints, p.tolerations) : undefined;
    const detail = miss ? `nodeSelector ${miss[0]}=${miss[1]}` : !affinityMatches(p.requiredTerms, node) ? 'required node affinity' : taint ? `taint ${formatTaint(taint)}` : undefined;
    if (detail) return `outside the KubeVirt CR's spec.workloads.nodePlacement (${detail} not met): virt-handler does not run there`;
  }
  return undefined;
}
