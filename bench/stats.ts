// Summary statistics for benchmark samples. Percentiles use the nearest-rank method (the smallest
// sample with at least q·n samples at or below it), so every reported percentile is a value that was
// actually measured — no interpolation between two runs that never happened.

export interface Summary {
  n: number;
  median: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export const PERCENTILE_METHOD = 'nearest-rank';

/** Nearest-rank percentile of ascending `sorted` samples, q in (0, 1]. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no samples: measure at least one iteration');
  if (!(q > 0 && q <= 1)) throw new RangeError(`percentile q must be in (0, 1], got ${q}`);
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError('summary of no samples: measure at least one iteration');
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    median: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    mean: sum / sorted.length,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
  };
}

export interface MeasureOptions {
  /** Runs before measuring (JIT, caches), not recorded. */
  warmup: number;
  iterations: number;
}

export interface Measurement extends Summary {
  /** Milliseconds per iteration, in run order. */
  samples: number[];
}

/** Times `fn` (ms, `performance.now()`) sequentially; `i` is the iteration index, warmup included. */
export async function measure(fn: (i: number) => unknown, opts: MeasureOptions): Promise<Measurement> {
  if (!Number.isInteger(opts.iterations) || opts.iterations < 1) throw new RangeError(`measure needs iterations >= 1, got ${opts.iterations}`);
  for (let i = 0; i < opts.warmup; i++) await fn(i);
  const samples: number[] = [];
  for (let i = 0; i < opts.iterations; i++) {
    const start = performance.now();
    await fn(opts.warmup + i);
    samples.push(performance.now() - start);
  }
  return { ...summarize(samples), samples };
}

const MIB = 1024 * 1024;

export function rssMiB(): number {
  return process.memoryUsage().rss / MIB;
}

export function heapUsedMiB(): number {
  return process.memoryUsage().heapUsed / MIB;
}

/**
 * Full garbage collection, so heap figures count retained data rather than garbage awaiting
 * collection. `gc` exists only when node started with --expose-gc (`npm run bench` passes it); V8
 * flags are never switched at run time (Node documents that as undefined behaviour).
 */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') throw new Error('collectGarbage needs node --expose-gc: run the benchmarks with `npm run bench` (which passes it)');
  gc();
}
