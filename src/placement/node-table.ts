// What a node's devices make of a shape of need (pools, types, units, allowCreateTarget, whose
// claims count as free): a rejection, or a candidate's inventory and optimistic score. None of it
// depends on the VMI's scheduling rules or versions, so it is worked out once per (device index,
// shape) in a table shared by the decisions on that index (ADR 0020). A table for one pool without
// spare capacity (the usual VMI) also groups its candidates by their version classes and counts
// them by unclaimed units (ADR 0021), so a decision counts and ranks groups instead of walking nodes.

import type { Fleet } from './fleet.ts';
import { missingTypes, shortage, shortOnlyByClaims, takeInventory, unusablePools } from './inventory.ts';
import type { Inventory, Need, PoolStock } from './inventory.ts';
import { plainClassesOf } from './lazy-candidate.ts';
import { compareScores, compareStrings } from './ordering.ts';
import type { NodeStock } from './stock.ts';
import type { Capacity, Claim, NodeExplanation, NodeInfo, Request, Score } from './types.ts';

const NONE: readonly never[] = [];

/**
 * One node of a table. Rejections are shared objects: never mutate them.
 */
export interface NodePart {
  /** Index in NodeTable.parts. */
  id: number;
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
  /** The last filterCandidates call in which the node passed the VMI's own checks (tables without groups). */
  stamp: number;
  /** Its candidate group (Groups.list) in a table with groups; -1 when it is never a candidate there. */
  group: number;
  /** Its position in NodeTable.order; -1 when not in it. */
  rank: number;
}

export interface NodeTable {
  /** Nodes holding a needed pool or spare capacity; any other node has none of the pools (`noneHeld`). */
  byName: Map<string, NodePart>;
  parts: NodePart[];
  /** The candidate parts in (optimistic score, name) order. */
  order: NodePart[];
  /** TypeMismatch message of a node holding nothing of the need. */
  noneHeld: string;
  /** Set where the table serves any number of units (flexibleShape). */
  groups?: Groups;
  /** Per node half (a Fleet's `nodes` array, never mutated): which part each node is. */
  joins: WeakMap<readonly NodeInfo[], Join>;
  /** Per part: the stamp of the decision that last left it out (ScreenedFilter.mark); read within one synchronous call. */
  marks: Int32Array;
}

/**
 * The candidates of a table that serves any number of units, grouped by their version classes:
 * nodes whose free devices form the same classes answer a decision alike, so a decision judges
 * each group once. Within a group parts stay in rank order, which orders them by unclaimed units
 * first (the score's leftover), so the parts with enough units for a VMI are a suffix.
 */
export interface Groups {
  /** The distinct (type, version) classes of the candidates, sorted by type then version. */
  classes: { typeId: string; version: string }[];
  list: Group[];
  /** Per class (index into `classes`): the groups holding it. */
  holders: number[][];
  /** Unclaimed units of the mixed parts and of the candidate parts, sorted: NoCapacity and Incompatible are counted from them by units. */
  mixedUnclaimed: Int32Array;
  cleanUnclaimed: Int32Array;
  /** Parts rejected whatever the units (TypeMismatch). */
  rejected: number;
}

export interface Group {
  /** Index into Groups.classes of each class the parts hold, in their class order. */
  classes: number[];
  /** The parts' positions in NodeTable.order, ascending, and their unclaimed units (so ascending too). */
  ranks: Int32Array;
  unclaimed: Int32Array;
}

/** A table joined to one node half. */
export interface Join {
  /** Per node (index in the half): its part's id, or -1 when it holds none of the need. */
  partOf: Int32Array;
  /** Parts whose node is not in the half (devices published for a node without a Node object). */
  absent: number[];
  /** Nodes of the half without a part (TypeMismatch). */
  noPart: number;
  /** The half lists its nodes in name order (sortNodes), so explanations in node order need no sort. */
  sorted: boolean;
}

/**
 * Per device index (the Fleet's stockByNode: the controller keeps one per device half of its
 * snapshot, while the node half changes with every lease renewal), the tables of the need shapes
 * decided on it, the most recently built last.
 */
const TABLES = new WeakMap<Fleet['stockByNode'], Map<string, NodeTable>>();
/** Shapes kept per index: a fleet sees a handful (one per pool, or pools × units); with claims, one per migration. */
const MAX_TABLES = 16;
const SEP = '\u0000';

export function nodeTable(fleet: Fleet, need: Need, request: Request): NodeTable {
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
  const parts: NodePart[] = [];
  const order: NodePart[] = [];
  for (const name of new Set([...fleet.stockByNode.keys(), ...fleet.capacityByNode.keys()])) {
    // Most nodes of a mixed fleet hold none of the VMI's pools: like a node without devices, they get no part (noneHeld).
    if (!fleet.capacityByNode.has(name) && !holdsAnyPool(fleet.stockByNode.get(name), need)) continue;
    const part = partOf(fleet, need, request, flexible, name, noSpare, parts.length);
    byName.set(name, part);
    parts.push(part);
    if (part.inventory && !part.mixed) order.push(part);
  }
  order.sort((a, b) => byPart(a, b) || compareStrings(a.name, b.name));
  order.forEach((part, rank) => (part.rank = rank));
  const table: NodeTable = { byName, parts, order, noneHeld, joins: new WeakMap(), marks: new Int32Array(parts.length) };
  if (flexible) table.groups = groupsOf(parts, order);
  return table;
}

/** What the node's devices, capacity and claims make of it for the need (see NodePart). */
function partOf(fleet: Fleet, need: Need, request: Request, flexible: boolean, name: string, noSpare: string, id: number): NodePart {
  const slots: readonly Capacity[] = (fleet.capacityByNode.size > 0 && fleet.capacityByNode.get(name)) || NONE;
  const stock = fleet.stockByNode.get(name);
  const base = { id, name, rankKey: 0, stamp: 0, group: -1, rank: -1 };
  const claims: readonly Claim[] = (fleet.claimsByNode.size > 0 && fleet.claimsByNode.get(name)) || NONE;
  const inventory = takeInventory(need, stock, slots, claims, request.migrationUid, request.allowCreateTarget);
  const missing = missingTypes(need, inventory);
  if (missing) return { ...base, rejection: { node: name, verdict: 'TypeMismatch', message: `no ${missing} device${noSpare}` } };
  if (flexible) {
    const pool = inventory.stocks[0] as PoolStock;
    const mixed = unusablePools(need, inventory);
    const unclaimed = pool.free - pool.claimed;
    const score: Score = { creates: 0, leftover: unclaimed, consumed: inventory.consumed };
    return { ...base, inventory, unclaimed, rankKey: packScore(score), score, ...(mixed ? { mixed: { node: name, verdict: 'Incompatible' as const, message: mixed } } : {}) };
  }
  const short = shortage(need, inventory);
  if (short) return { ...base, rejection: noCapacity(name, need, inventory, short) };
  const mixed = unusablePools(need, inventory);
  if (mixed) return { ...base, rejection: { node: name, verdict: 'Incompatible', message: mixed } };
  const score = optimisticScore(need, inventory);
  return { ...base, inventory, score, rankKey: packScore(score) };
}

export function noCapacity(node: string, need: Need, inventory: Inventory, message = shortage(need, inventory)): NodeExplanation {
  return { node, verdict: 'NoCapacity', message, ...(shortOnlyByClaims(need, inventory) ? { claimBound: true as const } : {}) };
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

/** Candidates grouped by the classes they hold (same (type, version) list in the same order). */
function groupsOf(parts: readonly NodePart[], order: readonly NodePart[]): Groups {
  const classIndex = new Map<string, number>();
  const classes: { typeId: string; version: string }[] = [];
  const byKey = new Map<string, { index: number; classes: number[]; ranks: number[]; unclaimed: number[] }>();
  const building: { classes: number[]; ranks: number[]; unclaimed: number[] }[] = [];
  order.forEach((part, rank) => {
    let key = '';
    const held: number[] = [];
    for (const cls of plainClassesOf(part.inventory as Inventory) ?? NONE) {
      const k = cls.typeId + SEP + cls.version;
      let i = classIndex.get(k);
      if (i === undefined) {
        classIndex.set(k, (i = classes.length));
        classes.push({ typeId: cls.typeId, version: cls.version });
      }
      held.push(i);
      key += `${i},`;
    }
    let group = byKey.get(key);
    if (!group) {
      byKey.set(key, (group = { index: building.length, classes: held, ranks: [], unclaimed: [] }));
      building.push(group);
    }
    part.group = group.index;
    group.ranks.push(rank);
    group.unclaimed.push(part.unclaimed as number);
  });
  // Classes sorted by (type, version), as buildClasses lists them; groups refer to the new indices.
  const sorted = classes.map((c, i) => ({ c, i })).sort((a, b) => compareStrings(a.c.typeId, b.c.typeId) || compareStrings(a.c.version, b.c.version));
  const renumber = new Int32Array(classes.length);
  sorted.forEach(({ i }, j) => (renumber[i] = j));
  const list: Group[] = building.map((g) => ({ classes: g.classes.map((i) => renumber[i] as number), ranks: Int32Array.from(g.ranks), unclaimed: Int32Array.from(g.unclaimed) }));
  const holders: number[][] = sorted.map(() => []);
  list.forEach((g, gi) => {
    for (const k of g.classes) if ((holders[k] as number[]).at(-1) !== gi) (holders[k] as number[]).push(gi);
  });
  const mixed: number[] = [];
  let rejected = 0;
  for (const p of parts) {
    if (p.rejection) rejected++;
    else if (p.mixed) mixed.push(p.unclaimed as number);
  }
  return {
    classes: sorted.map(({ c }) => c),
    list,
    holders,
    mixedUnclaimed: Int32Array.from(mixed).sort(),
    cleanUnclaimed: Int32Array.from(order.map((p) => p.unclaimed as number)).sort(),
    rejected,
  };
}

/** The table joined to a node half, built once per half (the controller keeps one per snapshot). */
export function joinOf(table: NodeTable, nodes: readonly NodeInfo[]): Join {
  const known = table.joins.get(nodes);
  if (known && known.partOf.length === nodes.length) return known;
  const partOf = new Int32Array(nodes.length);
  const present = new Uint8Array(table.parts.length);
  let noPart = 0;
  let sorted = true;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as NodeInfo;
    const part = table.byName.get(node.name);
    partOf[i] = part ? part.id : -1;
    if (part) present[part.id] = 1;
    else noPart++;
    if (i > 0 && (nodes[i - 1] as NodeInfo).name > node.name) sorted = false;
  }
  const absent: number[] = [];
  for (let id = 0; id < present.length; id++) if (!present[id]) absent.push(id);
  const join: Join = { partOf, absent, noPart, sorted };
  table.joins.set(nodes, join);
  return join;
}

/** First index of `sorted` (ascending) holding a value >= `min`. */
export function lowerBound(sorted: Int32Array, min: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < min) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
