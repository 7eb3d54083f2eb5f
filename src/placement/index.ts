// Placement engine: choose the target node for a VMI with mediated devices (DESIGN §4, issue #5).
// Pure: plain data in, plain data out, deterministic, no Kubernetes imports. Adapters map
// MdevDevice / Node / Lease / VMI / MdevMigration objects onto the types in ./types.ts.
//
// Pipeline (each step is a plain function; `place` runs them all with an injected prober):
//
//   resolveSource(vm, devices) -> SourceResult
//       The VMI's node and the devices whose consumerUid is the VMI's uid, sorted by name (place()
//       passes the fleet index's devicesByConsumer entry, so no decision scans the fleet). Fails
//       (with a reason naming the object and the remedy) if the VMI is not running, uses no device,
//       or any device is not migratable.
//   indexFleet(nodes, devices, capacity?, claims?) -> Fleet
//       Nodes, devices and spare capacity indexed by node in canonical order, devices by consumer
//       uid, and each node's stock (stock.ts): free and used devices per pool, free ones per type
//       in version classes with their target references. Built once per snapshot and shared by
//       every decision on it; a decision reads only the pools its VMI needs.
//   filterCandidates(source, fleet, request) -> CandidateFilter
//       Every node but the source becomes a candidate (its pools and optimistic pairs built on first
//       read) or a rejection with a message:
//       AgentUnavailable (stale lease) > Excluded (targetNodes, cordoned, untolerated
//       NoSchedule/NoExecute taint, nodeSelector, required affinity) > TypeMismatch > NoCapacity
//       (not enough free, unreserved devices — plus creatable slots when allowCreateTarget — per
//       type). Devices reserved by this very migration count as free, so a resumed reconcile
//       reaches the same answer. Candidates come sorted by their optimistic score.
//   buildClasses(candidates) -> EquivalenceClass[]
//       Free candidate targets grouped by (type, version string), each with preferred targets to
//       probe: those the best-ranked node holding the class would use.
//   planProbes(source, classes, cache) -> ProbePlan
//       Cached verdicts for known (source version, class) pairs; one probe per unknown pair, batched
//       per (node, type, source version). probes.length <= unknownPairs.
//   applyProbeAnswers(verdicts, answers, cache?) -> VerdictMap
//       Folds agents' answers into the verdicts (origin 'probe', with the probed target ids) and
//       the cache. Inconsistent answers within a class reject the class.
//   decide(source, filter, verdicts) -> Decision
//       Compatible iff every source device matches a distinct free target of its type whose class
//       accepted its version (augmenting-path matching). Ranking by Score (creates, leftover free
//       devices, consumed devices, then name); chosen = first; needsConfirmation and the
//       confirmationProbes covering chosen targets not themselves probed in this decision;
//       explanations for every non-source node (chosen, then verdict order, then name), built when
//       first read, as is the ranking; totals.
//   place(input, cache, prober) -> PlaceOutcome
//       All of the above plus confirmation rounds. A round whose answers change no verdict's
//       outcome (the usual warm case: the probe agrees with the cache) keeps the decision and only
//       recomputes its confirmations (redecide); otherwise it decides again. If
//       decision.needsConfirmation is still true on return, the prober never confirmed the chosen
//       targets: do not migrate on it.
//   boundedCandidates(explanations, 50) — the prefix stored in MdevMigration status.
//   firstExplanations(decision, limit) — that prefix, built without the rest where the decision
//       allows (a grouped decision on a half in name order: one walk that stops early).
//   exhaustiveProbeCount(source, filter) — probes the naive search would cost (benchmark baseline).
//   VerdictCache — bounded LRU of verdicts keyed by (type, source string, target string);
//       get/set/invalidateVersion(version)/size/clear.
//   verdictKey, targetId — identity keys (targetId is the MdevDevice name, or
//       `node/parent/type` for a creatable slot).
//   tolerates, untoleratedTaint, affinityMatches, requirementMatches, exclusionReason — the
//       Kubernetes scheduling rules, reusable by the webhook and `explain`.
//
// Cost per decision: linear in nodes with a small constant, not in devices: what each node's devices
// make of the VMI's need shape is kept per (device index, shape) with the candidates in rank order
// (node-table.ts, ADR 0020), so a decision runs the VMI's own checks per node, builds pools and
// pairs only for the nodes it probes or chooses, counts the verdicts, and builds the ranking and the
// explanations only when they are read. For one pool without spare capacity the table also groups
// its candidates by their classes, and a decision judges groups, not candidates (screened.ts, ADR
// 0021; docs/bench/placement-profile.md).

export type * from './types.ts';
export type { DeviceIndex, Fleet } from './fleet.ts';
export type { CachedVerdict, VerdictCacheOptions } from './verdict-cache.ts';
export type { Accepts, AssignmentResult } from './assignment.ts';
export type { PlaceInput, PlaceOutcome, Prober } from './place.ts';

export { resolveSource } from './source.ts';
export { indexDevices, indexFleet, sortNodes } from './fleet.ts';
export { filterCandidates } from './candidates.ts';
export { buildClasses, planProbes, applyProbeAnswers } from './classes.ts';
export { decide, boundedCandidates, firstExplanations, VERDICT_ORDER } from './decide.ts';
export { place } from './place.ts';
export { exhaustiveProbeCount } from './baseline.ts';
export { VerdictCache } from './verdict-cache.ts';
export { assignTargets, scoreAssignment } from './assignment.ts';
export { verdictKey, targetId } from './keys.ts';
export { tolerates, untoleratedTaint, affinityMatches, requirementMatches, exclusionReason, formatTaint } from './scheduling.ts';
