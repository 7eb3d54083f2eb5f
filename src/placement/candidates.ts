// Step 2 of §4: every node but the source gets either a pre-probe rejection (AgentUnavailable,
// Excluded, TypeMismatch, NoCapacity, or Incompatible for a pool holding a free device no answer
// can make acceptable) or becomes a candidate with the version classes of its pools. What a node's
// devices make of it depends only on the shape of the need (pools, units, allowCreateTarget, whose
// claims count as free), so that part is worked out once per (device index, shape) in a table that also
// keeps the candidates in rank order (nodeTable); a decision then runs only the VMI's own checks
// (agent, scheduling rules) per node and builds a candidate's pools and pairs only if it reads them.

import { assignTargets } from './assignment.ts';
import type { Fleet } from './fleet.ts';
import { buildPools, missingTypes, needOf, shortage, shortOnlyByClaims, takeInventory, unusablePools } from './inventory.ts';
import type { Inventory, Need, PoolStock } from './inventory.ts';
import { compareScores, compareStrings } from './ordering.ts';
import { exclusionCheck } from './scheduling.ts';
import type { NodeStock } from './stock.ts';
import type { Capacity, CandidateFilter, CandidateNode, Claim, DevicePair, NodeExplanation, Request, ResourcePool, Score, Source, TargetPool } from './types.ts';

const NONE: readonly never[] = [];
const ANY = () => true;

export function filterCandidates(source: Source, fleet: Fleet, request: Request): CandidateFilter {
  const allowList = request.targetNodes && request.targetNodes.length > 0 ? new Set(request.targetNodes) : undefined;
  const excluded = exclusionCheck(source.vm, allowList);
  const need = needOf(source);
  const table = nodeTable(fleet, need, request);
  const wanted = need.wanted[0] as number;
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
    else if (part.unclaimed !== undefined && part.unclaimed < wanted) rejected.push(noCapacity(node.name, need, part.inventory as Inventory));
    else if (part.mixed) rejected.push(part.mixed);
    else part.stamp = stamp;
  }
  // The table lists the candidates in (optimistic score, name) order already: no sort per decision.
  const candidates: CandidateNode[] = [];
  for (const part of table.order) {
    if (part.stamp !== stamp) continue;
    const inventory = part.inventory as Inventory;
    let score = part.score as Score;
    if (part.unclaimed !== undefined) score = { creates: 0, leftover: part.unclaimed - wanted, consumed: inventory.consumed };
    candidates.push(new LazyCandidate(part.name, source, need, inventory, score));
  }
  return { candidates, rejected };
}

let stamps = 0;

function noCapacity(node: string, need: Need, inventory: Inventory, message = shortage(need, inventory)): NodeExplanation {
  return { node, verdict: 'NoCapacity', message, ...(shortOnlyByClaims(need, inventory) ? { claimBound: true as const } : {}) };
}

/**
 * What a node's devices, spare capacity and claims make of it for one shape of need (pools, types,
 * units, allowCreateTarget, and the migration whose own claims count as free): a rejection, or a
 * candidate's inventory and optimistic score. None of it depends on the VMI's scheduling rules or
 * versions, so it is worked out once per (device index, shape) and shared by the decisions on it.
 * Rejections are shared objects: never mutate them.
 */
interface NodePart {
  name: string;
  rejection?: NodeExplanation;
  inventory?: Inventory;
  score?: Score;
  rankKey: number;
  /**
   * Set in a table for any number of units (see flexibleShape): the node's unclaimed free devices of
   * the pool. Fewer than the VMI needs make it NoCapacity, else it is `mixed` or a candidate.
   */
  unclaimed?: number;
  mixed?: NodeExplanation;
  /** The last filterCandidates call in which the node passed the VMI's own checks. */
  stamp: number;
}

interface NodeTable {
  /** Nodes holding a device or spare capacity; any other node has none of the pools (`noneHeld`). */
  byName: Map<string, NodePart>;
  /** The candidate parts in (optimistic score, name) order. */
  order: NodePart[];
  /** TypeMismatch message of a node holding nothing of the need. */
  noneHeld: string;
}

/**
 * Per device index (the Fleet's stockByNode: the controller keeps one per device half of its
 * snapshot, while the node half changes with every lease renewal), the tables of the need shapes
 * decided on it, the most recently built last.
 */
const TABLES = new WeakMap<Fleet['stockByNode'], Map<string, NodeTable>>();
/** Shapes kept per index: a fleet sees a handful (one per pool, or pools × units); with claims, one per migration. */
const MAX_TABLES = 16;

function nodeTable(fleet: Fleet, need: Need, request: Request): NodeTable {
  const claims = fleet.claimsByNode.size > 0 ? request.migrationUid : '';
  const flexible = flexibleShape(fleet, need);
  const key = [need.pools.join(SEP), need.types.join(SEP), flexible ? '*' : need.wanted.join(SEP), request.allowCreateTarget ? 'create' : '', claims].join(SEP + SEP);
  let tables = TABLES.get(fleet.stockByNode);
  if (!tables) TABLES.set(fleet.stockByNode, (tables = new Map()));
  let table = tables.get(key);
  if (!table) {
    table = buildTable(fleet, need, request, flexible);
    tables.set(key, table);
    if (tables.size > MAX_TABLES) tables.delete(tables.keys().next().value as string);
  }
  return table;
}

const SEP = '\u0000';

/**
 * One pool and no spare capacity anywhere (the usual fleet and VMI): then the number of units only
 * decides which holders are short, and candidates rank by unclaimed free devices whatever the
 * number (leftover = unclaimed - wanted), so one table serves VMIs of one, two or more devices.
 */
function flexibleShape(fleet: Fleet, need: Need): boolean {
  return need.pools.length === 1 && fleet.capacityByNode.size === 0;
}

function buildTable(fleet: Fleet, need: Need, request: Request, flexible: boolean): NodeTable {
  const noSpare = request.allowCreateTarget ? ' and no spare capacity for one' : '';
  const noneHeld = `no ${need.types.join(' or ')} device${noSpare}`;
  const byName = new Map<string, NodePart>();
  const order: NodePart[] = [];
  for (const name of new Set([...fleet.stockByNode.keys(), ...fleet.capacityByNode.keys()])) {
    const part = partOf(fleet, need, request, flexible, name, { noneHeld, noSpare });
    byName.set(name, part);
    if (part.inventory && !part.mixed) order.push(part);
  }
  order.sort((a, b) => byPart(a, b) || compareStrings(a.name, b.name));
  return { byName, order, noneHeld };
}

/** What the node's devices, capacity and claims make of it for the need (see NodePart). */
function partOf(fleet: Fleet, need: Need, request: Request, flexible: boolean, name: string, { noneHeld, noSpare }: { noneHeld: string; noSpare: string }): NodePart {
  const slots: readonly Capacity[] = (fleet.capacityByNode.size > 0 && fleet.capacityByNode.get(name)) || NONE;
  const stock = fleet.stockByNode.get(name);
  // Most nodes of a mixed fleet hold none of the VMI's pools: say so without taking inventory.
  if (slots.length === 0 && !holdsAnyPool(stock, need)) return { name, rejection: { node: name, verdict: 'TypeMismatch', message: noneHeld }, rankKey: 0, stamp: 0 };
  const claims: readonly Claim[] = (fleet.claimsByNode.size > 0 && fleet.claimsByNode.get(name)) || NONE;
  const inventory = takeInventory(need, stock, slots, claims, request.migrationUid, request.allowCreateTarget);
  const missing = missingTypes(need, inventory);
  if (missing) return { name, rejection: { node: name, verdict: 'TypeMismatch', message: `no ${missing} device${noSpare}` }, rankKey: 0, stamp: 0 };
  if (flexible) {
    const pool = inventory.stocks[0] as PoolStock;
    const mixed = unusablePools(need, inventory);
    const unclaimed = pool.free - pool.claimed;
    const score: Score = { creates: 0, leftover: unclaimed, consumed: inventory.consumed };
    return { name, inventory, unclaimed, rankKey: packScore(score), score, stamp: 0, ...(mixed ? { mixed: { node: name, verdict: 'Incompatible' as const, message: mixed } } : {}) };
  }
  const short = shortage(need, inventory);
  if (short) return { name, rejection: noCapacity(name, need, inventory, short), rankKey: 0, stamp: 0 };
  const mixed = unusablePools(need, inventory);
  if (mixed) return { name, rejection: { node: name, verdict: 'Incompatible', message: mixed }, rankKey: 0, stamp: 0 };
  const score = optimisticScore(need, inventory);
  return { name, inventory, score, rankKey: packScore(score), stamp: 0 };
}

function byPart(a: NodePart, b: NodePart): number {
  if (a.rankKey > 0 && b.rankKey > 0) return a.rankKey - b.rankKey;
  return compareScores(a.score as Score, b.score as Score);
}

function holdsAnyPool(stock: NodeStock | undefined, need: Need): boolean {
  if (!stock) return false;
  for (const pool of need.pools) if (stock.pools.has(pool)) return true;
  return false;
}

/**
 * A candidate whose classes, pools and optimistic pairs are built on first read: a decision reads
 * them on the few nodes it probes, confirms or explains, and ranks every other node by the score
 * alone, which the counts give (optimisticScore). One object per candidate, its getters on the
 * prototype: the fleet's candidates cost an allocation each, not a closure per field.
 */
export class LazyCandidate implements CandidateNode {
  readonly name: string;
  readonly freeDevices: number;
  readonly consumed: number;
  /** The optimistic score, known without building the pairs. */
  readonly rankScore: Score;
  readonly #source: Source;
  readonly #need: Need;
  readonly #inventory: Inventory;
  readonly #plainClasses: readonly TargetPool[] | undefined;
  #shape: { pools: readonly TargetPool[]; resources: ResourcePool[] } | undefined;
  #optimistic: { pairs: DevicePair[]; score: Score } | undefined;

  constructor(name: string, source: Source, need: Need, inventory: Inventory, score: Score) {
    this.name = name;
    this.freeDevices = inventory.freeDevices;
    this.consumed = inventory.consumed;
    this.rankScore = score;
    this.#source = source;
    this.#need = need;
    this.#inventory = inventory;
    const only = inventory.stocks.length === 1 ? inventory.stocks[0] : undefined;
    this.#plainClasses = only && only.slots.length === 0 ? only.classes : undefined;
  }

  get pools(): readonly TargetPool[] {
    return this.#built().pools;
  }

  get resources(): ResourcePool[] {
    return this.#built().resources;
  }

  get optimistic(): { pairs: DevicePair[]; score: Score } {
    return (this.#optimistic ??= { pairs: assignTargets(this.#source.devices, this.#built(), ANY).pairs, score: this.rankScore });
  }

  /**
   * Every class of the node's needed pools, in no particular order, when that takes no building:
   * one pool without slots to create (the usual VMI). Undefined otherwise: read `pools`.
   */
  get plainClasses(): readonly TargetPool[] | undefined {
    return this.#plainClasses;
  }

  #built(): { pools: readonly TargetPool[]; resources: ResourcePool[] } {
    return (this.#shape ??= buildPools(this.name, this.#need, this.#inventory));
  }
}

/**
 * creates, leftover and consumed packed into 48 bits (16 each, leftover offset to be non-negative),
 * so sorting thousands of candidates compares numbers; 0 (undecided: compare the scores) where a
 * part does not fit, which no real node reaches.
 */
function packScore(score: Score): number {
  const { creates, leftover, consumed } = score;
  if (creates < 0 || creates >= 0x8000 || leftover < -0x4000 || leftover >= 0x4000 || consumed < 0 || consumed >= 0x8000) return 0;
  return 1 + ((creates * 0x10000 + leftover + 0x4000) * 0x10000 + consumed);
}

/** A candidate's optimistic score without building its pairs where the filter made it. */
export function rankScoreOf(node: CandidateNode): Score {
  return node instanceof LazyCandidate ? node.rankScore : node.optimistic.score;
}

/**
 * The score of the assignment assignTargets makes when every class accepts, from the counts: a
 * candidate has only free devices of the source's type in its pools (unusablePools) and enough
 * unclaimed ones or creatable slots for the rest (shortage), so each pool takes min(available,
 * wanted) devices and creates the rest. The reference engine in the tests scores the built pairs.
 */
function optimisticScore(need: Need, inventory: Inventory): Score {
  let units = 0;
  let creates = 0;
  for (let i = 0; i < need.pools.length; i++) {
    const stock = inventory.stocks[i] as PoolStock;
    const wanted = need.wanted[i] as number;
    const fromDevices = Math.max(0, Math.min(stock.free - stock.claimed, wanted));
    units += fromDevices;
    creates += wanted - fromDevices;
  }
  return { creates, leftover: inventory.freeDevices - units, consumed: inventory.consumed };
}
