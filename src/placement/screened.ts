// The candidate filter of a decision on a table with groups (node-table.ts; one pool, no spare
// capacity: the usual VMI). The VMI's own checks (agent lease, targetNodes, cordon, taints,
// selectors, affinity, KubeVirt's constraints) still run per node, but what the table decided is
// counted rather than listed: per verdict, and per candidate group, minus the few nodes this decision
// leaves out. The candidate and rejection lists exist on first read (tests, `explain`, a refusal);
// placing a VMI reads the groups (decide.ts, classes.ts) and builds only the nodes it ranks first.

import type { Fleet } from './fleet.ts';
import type { Inventory, Need } from './inventory.ts';
import { LazyCandidate, plainClassesOf } from './lazy-candidate.ts';
import { joinOf, lowerBound, noCapacity } from './node-table.ts';
import type { Group, Groups, Join, NodePart, NodeTable } from './node-table.ts';
import { exclusionCheck } from './scheduling.ts';
import type { CandidateFilter, CandidateNode, EquivalenceClass, NodeExplanation, NodeInfo, Request, Source, TargetPool, TargetRef, Verdict } from './types.ts';

let stamps = 0;
const NO_CLASSES: readonly TargetPool[] = [];

/**
 * A CandidateFilter whose `candidates` and `rejected` are built on first read. They are own
 * enumerable accessors (the filter is data to its readers, and a copy or comparison by keys must
 * see both); everything else is private.
 */
export class ScreenedFilter implements CandidateFilter {
  declare readonly candidates: CandidateNode[];
  declare readonly rejected: NodeExplanation[];
  readonly #source: Source;
  readonly #need: Need;
  readonly #wanted: number;
  readonly #nodes: readonly NodeInfo[];
  readonly #table: NodeTable;
  readonly #groups: Groups;
  readonly #join: Join;
  /** Verdict counts of the nodes rejected before any probe. */
  readonly #counts: Record<Verdict, number>;
  /** Per group: its candidates with enough units that this decision leaves out. */
  readonly #groupRemoved: Int32Array;
  /** Rejections by the VMI's own checks, with the node's index in the half, in node order. */
  readonly #own: { index: number; explanation: NodeExplanation }[] = [];
  /** Parts left out of this decision: not in the half, the source's, or failing the VMI's own checks. */
  readonly #removed: number[];
  readonly #made = new Map<number, LazyCandidate>();
  #listed: { list: LazyCandidate[]; groups: number[] } | undefined;
  #rejected: NodeExplanation[] | undefined;

  constructor(source: Source, fleet: Fleet, request: Request, need: Need, table: NodeTable) {
    this.#source = source;
    this.#need = need;
    this.#wanted = need.wanted[0] as number;
    this.#nodes = fleet.nodes;
    this.#table = table;
    this.#groups = table.groups as Groups;
    this.#join = joinOf(table, fleet.nodes);
    this.#groupRemoved = new Int32Array(this.#groups.list.length);
    this.#removed = [...this.#join.absent];
    this.#counts = this.#tableCounts();
    this.#screen(request);
    Object.defineProperty(this, 'candidates', { enumerable: true, get: () => this.#listCandidates().list });
    Object.defineProperty(this, 'rejected', { enumerable: true, get: () => (this.#rejected ??= this.#listRejections()) });
  }

  /** The table's verdicts over all its parts for this many units, and the half's nodes without a part. */
  #tableCounts(): Record<Verdict, number> {
    const g = this.#groups;
    const mixedShort = lowerBound(g.mixedUnclaimed, this.#wanted);
    const cleanShort = lowerBound(g.cleanUnclaimed, this.#wanted);
    return {
      Compatible: 0,
      Incompatible: g.mixedUnclaimed.length - mixedShort,
      NoCapacity: mixedShort + cleanShort,
      TypeMismatch: g.rejected + this.#join.noPart,
      AgentUnavailable: 0,
      Excluded: 0,
    };
  }

  /** The VMI's own checks per node; then the parts left out are taken off the table's counts. */
  #screen(request: Request): void {
    const allowList = request.targetNodes && request.targetNodes.length > 0 ? new Set(request.targetNodes) : undefined;
    const excluded = exclusionCheck(this.#source.vm, allowList);
    const { partOf } = this.#join;
    const nodes = this.#nodes;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i] as NodeInfo;
      let explanation: NodeExplanation;
      if (node.name === this.#source.nodeName) {
        this.#leaveOut(partOf[i] as number);
        continue;
      }
      if (!node.agentFresh) {
        explanation = { node: node.name, verdict: 'AgentUnavailable', message: node.agentUnknown ?? `agent lease mdev-agent.${node.name} is expired or missing` };
      } else {
        const exclusion = excluded(node);
        if (!exclusion) continue;
        explanation = { node: node.name, verdict: 'Excluded', message: exclusion };
      }
      this.#own.push({ index: i, explanation });
      this.#counts[explanation.verdict]++;
      this.#leaveOut(partOf[i] as number);
    }
    const parts = this.#table.parts;
    for (const id of this.#removed) {
      const part = parts[id] as NodePart;
      const verdict = this.#verdictOf(part);
      if (verdict) this.#counts[verdict]--;
      else (this.#groupRemoved[part.group] as number)++;
    }
  }

  #leaveOut(id: number): void {
    if (id >= 0) this.#removed.push(id);
    else this.#counts.TypeMismatch--;
  }

  /** The table's verdict on a part for this many units; undefined for a candidate. */
  #verdictOf(part: NodePart): Verdict | undefined {
    if (part.rejection) return part.rejection.verdict;
    if ((part.unclaimed as number) < this.#wanted) return 'NoCapacity';
    return part.mixed ? 'Incompatible' : undefined;
  }

  get groups(): Groups {
    return this.#groups;
  }

  /** Verdict counts of the nodes rejected before any probe (Compatible is 0; Incompatible counts mixed pools). */
  get counts(): Readonly<Record<Verdict, number>> {
    return this.#counts;
  }

  /**
   * Stamps the parts this decision leaves out in the table's marks and returns the stamp. Valid
   * until the next await: other decisions on the table stamp their own.
   */
  mark(): number {
    const stamp = ++stamps;
    const marks = this.#table.marks;
    for (const id of this.#removed) marks[id] = stamp;
    return stamp;
  }

  /** The best-ranked candidate of group `gi` (its position in the table's order), or -1; `stamp` from mark(). */
  firstOf(gi: number, stamp: number): number {
    const g = this.#groups.list[gi] as Group;
    const { order, marks } = this.#table;
    for (let i = lowerBound(g.unclaimed, this.#wanted); i < g.ranks.length; i++) {
      const rank = g.ranks[i] as number;
      if (marks[(order[rank] as NodePart).id] !== stamp) return rank;
    }
    return -1;
  }

  /** How many candidates group `gi` has in this decision. */
  sizeOf(gi: number): number {
    const g = this.#groups.list[gi] as Group;
    return g.ranks.length - lowerBound(g.unclaimed, this.#wanted) - (this.#groupRemoved[gi] as number);
  }

  /** The candidate at `rank` in the table's order, built once per decision. */
  candidateAt(rank: number): LazyCandidate {
    let made = this.#made.get(rank);
    if (!made) {
      const part = this.#table.order[rank] as NodePart;
      const inventory = part.inventory as Inventory;
      made = new LazyCandidate(part.name, this.#source, this.#need, inventory, { creates: 0, leftover: (part.unclaimed as number) - this.#wanted, consumed: inventory.consumed });
      this.#made.set(rank, made);
    }
    return made;
  }

  /** The candidates in rank order, each with its group. */
  listed(): { list: LazyCandidate[]; groups: number[] } {
    return this.#listCandidates();
  }

  #listCandidates(): { list: LazyCandidate[]; groups: number[] } {
    if (this.#listed) return this.#listed;
    const stamp = this.mark();
    const { order, marks } = this.#table;
    const list: LazyCandidate[] = [];
    const groups: number[] = [];
    for (let rank = 0; rank < order.length; rank++) {
      const part = order[rank] as NodePart;
      if ((part.unclaimed as number) < this.#wanted || marks[part.id] === stamp) continue;
      list.push(this.candidateAt(rank));
      groups.push(part.group);
    }
    return (this.#listed = { list, groups });
  }

  /** Calls `visit` with each candidate's classes in rank order, building no candidate (the exhaustive baseline's count). */
  forEachCandidate(visit: (classes: readonly TargetPool[]) => void): void {
    const stamp = this.mark();
    for (const part of this.#table.order) {
      if ((part.unclaimed as number) < this.#wanted || this.#table.marks[part.id] === stamp) continue;
      visit(plainClassesOf(part.inventory as Inventory) ?? NO_CLASSES);
    }
  }

  /** In the half's node order, as the filter without groups lists them. */
  #listRejections(): NodeExplanation[] {
    const out: NodeExplanation[] = [];
    this.walk((_, rejection) => {
      if (rejection) out.push(rejection);
      return true;
    });
    return out;
  }

  /** Whether the half lists its nodes in name order (then walk() visits them in the explanations' order within a verdict). */
  get sorted(): boolean {
    return this.#join.sorted;
  }

  /**
   * Visits every node but the source in the half's order with its rejection, or (a candidate) its
   * rank in the table's order and its group; stops when `visit` returns false. Allocates only the
   * rejections it builds (a node without a part, a short one).
   */
  walk(visit: (name: string, rejection: NodeExplanation | undefined, rank: number, group: number) => boolean): void {
    const { partOf } = this.#join;
    const parts = this.#table.parts;
    let next = 0;
    for (let i = 0; i < this.#nodes.length; i++) {
      const name = (this.#nodes[i] as NodeInfo).name;
      if (name === this.#source.nodeName) continue;
      const own = this.#own[next];
      let rejection: NodeExplanation | undefined;
      let part: NodePart | undefined;
      if (own && own.index === i) {
        rejection = own.explanation;
        next++;
      } else if ((partOf[i] as number) < 0) {
        rejection = { node: name, verdict: 'TypeMismatch', message: this.#table.noneHeld };
      } else {
        part = parts[partOf[i] as number] as NodePart;
        if (part.rejection) rejection = part.rejection;
        else if ((part.unclaimed as number) < this.#wanted) rejection = noCapacity(name, this.#need, part.inventory as Inventory);
        else if (part.mixed) rejection = part.mixed;
      }
      if (!(rejection ? visit(name, rejection, -1, -1) : visit(name, undefined, (part as NodePart).rank, (part as NodePart).group))) return;
    }
  }
}

/**
 * buildClasses for a screened filter: a class is in the decision when one of its groups has a
 * candidate, its preferred targets come from the best-ranked such candidate, and its size and
 * nodes (which walk every candidate) are built on first read.
 */
export function screenedClasses(filter: ScreenedFilter): EquivalenceClass[] {
  const { classes, holders, list } = filter.groups;
  const stamp = filter.mark();
  const firsts = list.map((_, gi) => filter.firstOf(gi, stamp));
  let measured: Map<string, { size: number; nodes: string[] }> | undefined;
  const measure = () => (measured ??= measureClasses(filter));
  const out: EquivalenceClass[] = [];
  classes.forEach(({ typeId, version }, k) => {
    let best = -1;
    for (const gi of holders[k] as number[]) {
      const first = firsts[gi] as number;
      if (first >= 0 && (best < 0 || first < best)) best = first;
    }
    if (best < 0) return;
    const node = filter.candidateAt(best);
    const used = node.optimistic.pairs.map((p) => p.target).filter((t) => t.typeId === typeId && t.version === version);
    const pool = (node.plainClasses ?? node.pools).find((c) => c.typeId === typeId && c.version === version);
    const preferred = used.length > 0 ? used : [pool?.targets[0] as TargetRef];
    out.push(lazyClass(typeId, version, preferred, () => measure().get(typeId + SEP + version) as { size: number; nodes: string[] }));
  });
  return out;
}

const SEP = '\u0000';

/** Each class's size and nodes over the filter's candidates in rank order, as buildClasses counts them. */
function measureClasses(filter: ScreenedFilter): Map<string, { size: number; nodes: string[] }> {
  const out = new Map<string, { size: number; nodes: string[] }>();
  for (const node of filter.listed().list) {
    for (const pool of node.plainClasses ?? node.pools) {
      const key = pool.typeId + SEP + pool.version;
      let m = out.get(key);
      if (!m) out.set(key, (m = { size: 0, nodes: [] }));
      m.size += pool.targets.length;
      if (m.nodes[m.nodes.length - 1] !== node.name) m.nodes.push(node.name);
    }
  }
  return out;
}

/** An EquivalenceClass whose size and nodes are own enumerable accessors, built on first read. */
function lazyClass(typeId: string, version: string, preferred: TargetRef[], measure: () => { size: number; nodes: string[] }): EquivalenceClass {
  const cls = { typeId, version, preferred } as EquivalenceClass;
  Object.defineProperty(cls, 'size', { enumerable: true, get: () => measure().size });
  Object.defineProperty(cls, 'nodes', { enumerable: true, get: () => measure().nodes });
  return cls;
}
