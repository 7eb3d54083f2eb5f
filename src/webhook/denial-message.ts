// The text a user sees when a VMIM is refused (or, in warn mode, admitted with a warning): which
// nodes were considered and why each was rejected, bounded so that a 1,000-node fleet still gives a
// readable message well below the API server's limits, with the totals covering every node.
import { VERDICT_ORDER, type NodeExplanation, type Verdict } from '../placement/index.ts';

/** Nodes listed by name in a message; the totals still count every node. */
export const MESSAGE_NODE_LIMIT = 8;
const NODE_REASON_MAX = 160;

export function formatTotals(totals: Record<Verdict, number>): string {
  const parts = VERDICT_ORDER.filter((v) => totals[v] > 0).map((v) => `${totals[v]} ${v}`);
  return parts.length > 0 ? parts.join(', ') : 'no other node';
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** `node: Verdict (reason)` for the first `limit` rejected nodes, then `+N more`. */
export function formatRejections(explanations: readonly NodeExplanation[], limit = MESSAGE_NODE_LIMIT): string {
  const rejected = explanations.filter((e) => e.verdict !== 'Compatible');
  const shown = rejected.slice(0, limit).map((e) => `${e.node}: ${e.verdict} (${clip(e.message, NODE_REASON_MAX)})`);
  const more = rejected.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; +${more} more` : '');
}

export interface NoTargetFacts {
  vmiRef: string;
  sourceNode: string;
  explanations: readonly NodeExplanation[];
  totals: Record<Verdict, number>;
  reason: string;
  /** The node the VMIM pins, if it pins one. */
  pinnedNode?: string;
}

/** Why the VMIM cannot go anywhere (or not to the node it pins), with the remedy. */
export function noTargetMessage(f: NoTargetFacts): string {
  const head = f.pinnedNode
    ? `mdev-operator: VMI ${f.vmiRef} has mediated devices and node ${f.pinnedNode} is not a verified-compatible target`
    : `mdev-operator: VMI ${f.vmiRef} has mediated devices and no node is a verified-compatible target`;
  const nodes = f.explanations.length;
  const detail = nodes > 0
    ? `${nodes} node${nodes === 1 ? '' : 's'} considered (${formatTotals(f.totals)}): ${formatRejections(f.explanations)}`
    : clip(f.reason, 512);
  const remedy = f.pinnedNode
    ? `pin a compatible node or omit addedNodeSelector to let the operator choose; see \`mdev-operator explain ${f.vmiRef}\``
    : `see \`mdev-operator explain ${f.vmiRef}\` for every node's reason`;
  return `${head}. ${detail}. To proceed: ${remedy}.`;
}
