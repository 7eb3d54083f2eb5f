// Step 2 of §4: every node but the source gets either a pre-probe rejection (AgentUnavailable,
// Excluded, TypeMismatch, NoCapacity, or Incompatible for a pool holding a free device no answer
// can make acceptable) or becomes a candidate with the version classes of its pools. Checks run
// cheapest first and one pass over each node's own devices, so the step is linear in the fleet;
// everything that depends only on the VMI (needed pools, selector keys) is prepared once.

import { assignTargets, scoreAssignment } from './assignment.ts';
import type { Fleet } from './fleet.ts';
import { buildPools, missingTypes, needOf, shortage, shortOnlyByClaims, takeInventory, unusablePools } from './inventory.ts';
import type { Inventory, Need } from './inventory.ts';
import { compareScores, compareStrings } from './ordering.ts';
import { exclusionCheck } from './scheduling.ts';
import type { Capacity, CandidateFilter, CandidateNode, Claim, NodeExplanation, Request, Source } from './types.ts';

const NONE: readonly never[] = [];
const ANY = () => true;

export function filterCandidates(source: Source, fleet: Fleet, request: Request): CandidateFilter {
  const allowList = request.targetNodes && request.targetNodes.length > 0 ? new Set(request.targetNodes) : undefined;
  const excluded = exclusionCheck(source.vm, allowList);
  const need = needOf(source);
  const noSpare = request.allowCreateTarget ? ' and no spare capacity for one' : '';
  const candidates: CandidateNode[] = [];
  const rejected: NodeExplanation[] = [];
  // indexFleet sorts nodes by name; then a stable sort by score alone gives the (score, name) order.
  let inNameOrder = true;
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
    const slots: readonly Capacity[] = fleet.capacityByNode.get(node.name) ?? NONE;
    const claims: readonly Claim[] = fleet.claimsByNode.get(node.name) ?? NONE;
    const inventory = takeInventory(need, fleet.stockByNode.get(node.name), slots, claims, request.migrationUid, request.allowCreateTarget);
    const missing = missingTypes(need, inventory);
    if (missing) {
      rejected.push({ node: node.name, verdict: 'TypeMismatch', message: `no ${missing} device${noSpare}` });
      continue;
    }
    const short = shortage(need, inventory);
    if (short) {
      rejected.push({ node: node.name, verdict: 'NoCapacity', message: short, ...(shortOnlyByClaims(need, inventory) ? { claimBound: true as const } : {}) });
      continue;
    }
    const mixed = unusablePools(need, inventory);
    if (mixed) {
      rejected.push({ node: node.name, verdict: 'Incompatible', message: mixed });
      continue;
    }
    const last = candidates[candidates.length - 1];
    if (last && last.name >= node.name) inNameOrder = false;
    candidates.push(makeCandidate(node.name, source, need, inventory));
  }
  candidates.sort(inNameOrder ? byScore : byScoreThenName);
  return { candidates, rejected };
}

const byScore = (a: CandidateNode, b: CandidateNode) => compareScores(a.optimistic.score, b.optimistic.score);
const byScoreThenName = (a: CandidateNode, b: CandidateNode) => byScore(a, b) || compareStrings(a.name, b.name);

function makeCandidate(nodeName: string, source: Source, need: Need, inventory: Inventory): CandidateNode {
  const { pools, resources } = buildPools(nodeName, need, inventory);
  const { pairs } = assignTargets(source.devices, { pools, resources }, ANY);
  const score = scoreAssignment(pairs, inventory.freeDevices, inventory.consumed);
  return { name: nodeName, pools, resources, freeDevices: inventory.freeDevices, consumed: inventory.consumed, optimistic: { pairs, score } };
}
