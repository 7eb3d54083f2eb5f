// Total orders used everywhere in the engine. Results must not depend on input order or locale,
// so two controller replicas (or a restarted one) make the same decision from the same data.

import type { Score } from './types.ts';

/** Code-unit order, independent of locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Lower is better: fewer creations, tighter fit, less load. */
export function compareScores(a: Score, b: Score): number {
  return a.creates - b.creates || a.leftover - b.leftover || a.consumed - b.consumed;
}

export function compareRanked(a: { node: string; score: Score }, b: { node: string; score: Score }): number {
  return compareScores(a.score, b.score) || compareStrings(a.node, b.node);
}
