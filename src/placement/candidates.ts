// Step 2 of §4: every node but the source gets either a pre-probe rejection (AgentUnavailable,
// Excluded, TypeMismatch, NoCapacity, or Incompatible for a pool holding a free device no answer
// can make acceptable) or becomes a candidate with the version classes of its pools. What a node's
// devices make of it depends only on the shape of the need, so that part comes from a node table
// (node-table.ts) that also keeps the candidates in rank order; a decision then runs only the VMI's
// own checks (agent, scheduling rules) per node and builds a candidate's pools and pairs only if it
// reads them. On a table with groups (one pool, no spare capacity) the filter counts instead of
// listing (screened.ts).

import type { Fleet } from './fleet.ts';
import { needOf } from './inventory.ts';
import type { Inventory, Need } from './inventory.ts';
import { LazyCandidate } from './lazy-candidate.ts';
import { nodeTable } from './node-table.ts';
import type { NodeTable } from './node-table.ts';
import { exclusionCheck } from './scheduling.ts';
import { ScreenedFilter } from './screened.ts';
import type { CandidateFilter, CandidateNode, NodeExplanation, Request, Score, Source } from './types.ts';

export function filterCandidates(source: Source, fleet: Fleet, request: Request): CandidateFilter {
  const need = needOf(source);
  const table = nodeTable(fleet, need, request);
  if (table.groups) return new ScreenedFilter(source, fleet, request, need, table);
  return listCandidates(source, fleet, request, need, table);
}

/**
 * The filter as lists, for tables without groups (several pools, or spare capacity in the fleet):
 * there every part's rejection or score is fixed, whatever units the VMI needs, by the table.
 */
function listCandidates(source: Source, fleet: Fleet, request: Request, need: Need, table: NodeTable): CandidateFilter {
  const allowList = request.targetNodes && request.targetNodes.length > 0 ? new Set(request.targetNodes) : undefined;
  const excluded = exclusionCheck(source.vm, allowList);
  const rejected: NodeExplanation[] = [];
  // Parts of the nodes that pass the VMI's own checks get this decision's stamp (one synchronous call).
  const stamp = ++stamps;
  for (const node of fleet.nodes) {
    if (node.name === source.nodeName) continue;
    if (!node.agentFresh) {
      rejected.push({ node: node.name, verdict: 'AgentUnavailable', message: node.agentUnknown ?? `agent lease mdev-agent.${node.name} is expired or missing` });
      continue;
    }
    const exclusion = excluded(node);
    if (exclusion) {
      rejected.push({ node: node.name, verdict: 'Excluded', message: exclusion });
      continue;
    }
    const part = table.byName.get(node.name);
    if (!part) rejected.push({ node: node.name, verdict: 'TypeMismatch', message: table.noneHeld });
    else if (part.rejection) rejected.push(part.rejection);
    else if (part.mixed) rejected.push(part.mixed);
    else part.stamp = stamp;
  }
  // The table lists the candidates in (optimistic score, name) order already: no sort per decision.
  const candidates: CandidateNode[] = [];
  for (const part of table.order) {
    if (part.stamp !== stamp) continue;
    candidates.push(new LazyCandidate(part.name, source, need, part.inventory as Inventory, part.score as Score));
  }
  return { candidates, rejected };
}

let stamps = 0;
