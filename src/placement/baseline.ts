// What userspace does without equivalence classes: test the source string against every free
// candidate target, one probe each (per distinct source version of the target's type). Run by the
// same harness as the engine, it is the benchmark's point of comparison.

import { targetId } from './keys.ts';
import { ScreenedFilter } from './screened.ts';
import type { CandidateFilter, Source, TargetPool } from './types.ts';

export function exhaustiveProbeCount(source: Source, filter: CandidateFilter): number {
  let probes = 0;
  const count = (pools: readonly TargetPool[]): void => {
    for (const pool of pools) {
      // Slots repeat once per creatable instance, but one test of the type covers a parent.
      const distinct = pool.targets[0]?.kind === 'slot' ? new Set(pool.targets.map(targetId)).size : pool.targets.length;
      probes += distinct * (source.versionsByType.get(pool.typeId)?.length ?? 0);
    }
  };
  // A screened filter walks its table instead of building every candidate: the count must not cost the decision a collection.
  if (filter instanceof ScreenedFilter) filter.forEachCandidate(count);
  else for (const node of filter.candidates) count(node.pools);
  return probes;
}
