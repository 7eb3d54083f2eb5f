// A candidate node whose pools and optimistic pairs are built on first read: a decision reads them
// on the few nodes it probes, confirms or explains, and ranks every other node by the score alone,
// which the counts give.

import { assignTargets } from './assignment.ts';
import { buildPools } from './inventory.ts';
import type { Inventory, Need } from './inventory.ts';
import type { CandidateNode, DevicePair, ResourcePool, Score, Source, TargetPool } from './types.ts';

const ANY = () => true;

/**
 * One object per candidate, its getters on the prototype: the fleet's candidates cost an
 * allocation each, not a closure per field.
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
    this.#plainClasses = plainClassesOf(inventory);
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

/** The classes of a one-pool inventory without slots (see LazyCandidate.plainClasses). */
export function plainClassesOf(inventory: Inventory): readonly TargetPool[] | undefined {
  const only = inventory.stocks.length === 1 ? inventory.stocks[0] : undefined;
  return only && only.slots.length === 0 ? only.classes : undefined;
}

/** A candidate's optimistic score without building its pairs where the filter made it. */
export function rankScoreOf(node: CandidateNode): Score {
  return node instanceof LazyCandidate ? node.rankScore : node.optimistic.score;
}
