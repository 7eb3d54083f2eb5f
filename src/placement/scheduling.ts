// Would the scheduler place the VMI's target pod on this node? KubeVirt creates the target pod and
// the scheduler must accept it, so a node we choose must pass the same checks; these follow the
// Kubernetes rules (component-helpers nodeaffinity, corev1 Toleration.ToleratesTaint).

import type { NodeInfo, NodeSelectorRequirement, NodeSelectorTerm, SourceVm, Taint, Toleration } from './types.ts';

/** Kubernetes `Toleration.ToleratesTaint`. */
export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  const operator = toleration.operator ?? 'Equal';
  if (operator === 'Exists') return true;
  return (toleration.value ?? '') === (taint.value ?? '');
}

export function formatTaint(taint: Taint): string {
  return `${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect}`;
}

/**
 * The first taint that blocks scheduling and is not tolerated. PreferNoSchedule only lowers the
 * scheduler's score, so it never blocks.
 */
export function untoleratedTaint(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint | undefined {
  return taints.find((t) => t.effect !== 'PreferNoSchedule' && !tolerations.some((tol) => tolerates(tol, t)));
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
  return (node) => {
    if (allowList && !allowList.has(node.name)) return 'not in spec.targetNodes';
    if (node.unschedulable) return 'cordoned';
    const taint = node.taints.length > 0 ? untoleratedTaint(node.taints, vm.tolerations) : undefined;
    if (taint) return `taint ${formatTaint(taint)} not tolerated`;
    for (const key of selectorKeys) {
      const want = vm.nodeSelector[key] as string;
      if (Object.hasOwn(node.labels, key) && node.labels[key] === want) continue;
      const have = Object.hasOwn(node.labels, key) ? `is ${node.labels[key]}` : 'is absent';
      return `nodeSelector ${key}=${want} not matched (label ${have})`;
    }
    if (!affinityMatches(vm.requiredAffinity, node)) return 'required node affinity not satisfied (no term matches)';
    return undefined;
  };
}
