// The controller's memory budget (≤ 200 MiB RSS at 1,000 nodes × 8 devices, BENCHMARKS.md) is
// dominated less by what it keeps than by what V8 keeps committed. Loading the modules and then
// relisting thousands of objects (which survive scavenges) makes V8 grow the young generation to
// its maximum — 2 × 32 MiB of semi-spaces on 64-bit — and keep those pages for the life of the
// process; the sync also leaves old-space pages full of parsed JSON. Measured at 1,000 nodes: RSS
// 302 MiB after sync, of which ~100 MiB was young generation and sync garbage.
//
// So the controller (1) lets the young generation grow only up to YOUNG_GENERATION_CAP_BYTES:
// after every scavenge it switches V8's semi-space growth factor between 2 (grow) and 1 (stay),
// and (2) after the first sync runs one memory-reducing full GC, which hands the sync's garbage and
// the young generation back to the OS. A young generation kept at its 1 MiB minimum would cost
// twice the GC time per decision (objects that live through a 5 ms decision get promoted); 8 MiB
// semi-spaces keep that cost near V8's default at a sixth of the memory. V8 reads the growth
// factor at every resize, so setting it at run time works without node flags (which the image,
// the chart and `npx` would each have to repeat); a V8 without these flags ignores them.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The young generation's size (both semi-spaces) beyond which it may not grow. */
export const YOUNG_GENERATION_CAP_BYTES = 16 * 2 ** 20;

type GcFunction = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let gcFunction: GcFunction | undefined;
let observer: PerformanceObserver | undefined;
let growing: boolean | undefined;

function gc(): GcFunction | undefined {
  if (gcFunction) return gcFunction;
  setFlagsFromString('--expose-gc');
  // A context created after the flag gets `gc`; the main context (and its globals) stays as it was.
  const fn: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  gcFunction = typeof fn === 'function' ? (fn as GcFunction) : undefined;
  return gcFunction;
}

function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** Growth factor 2 while below the cap, 1 (no growth) at or above it. */
function steer(): void {
  const grow = youngGenerationBytes() < YOUNG_GENERATION_CAP_BYTES;
  if (grow === growing) return;
  growing = grow;
  setFlagsFromString(`--semi-space-growth-factor=${grow ? 2 : 1}`);
}

/** Keeps the young generation within YOUNG_GENERATION_CAP_BYTES from now on (idempotent). */
export function capYoungGeneration(): void {
  if (observer) return;
  steer();
  observer = new PerformanceObserver((list) => {
    const minor = (e: unknown): boolean => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR;
    if (list.getEntries().some(minor)) steer();
  });
  observer.observe({ entryTypes: ['gc'] });
}

/**
 * Returns the start-up and sync garbage to the OS: one synchronous memory-reducing full GC
 * (tens of milliseconds at 1,000 nodes). Call it after a burst that will not recur soon.
 */
export function releaseStartupMemory(): void {
  gc()?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  steer();
}
