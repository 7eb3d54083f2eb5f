// What userspace does without equivalence classes: test the source string against every free
// candidate target, one probe each (per distinct source version of the target's type). Run by the
// same harness as the engine, it is the benchmark's point of comparison.

import { targetId } from './keys.ts';
import type { CandidateFilter, Source } from './types.ts';

export function exhaustiveProbeCount(source: Source, filter: CandidateFilter): number {
  let probes = 0;
  for (const node of filter.candidates) {
    for (const pool of node.pools) {
      // Slots repeat once per creatable instance, but one test of the type covers a parent.
      const distinct = new Set(pool.targets.map(targetId)).size;
      probes += distinct * (source.versionsByType.get(pool.typeId)?.length ?? 0);
    }
  }
  return probes;
}
