// The harness's contract with benchmark suites: a suite is `{ name, run(ctx) }` returning plain
// figures; the harness owns the control plane, the table, BENCHMARKS.md and the plot.
import type { KubeConfig } from '../../src/kube/kubeconfig.ts';

/** What a suite gets from the harness. */
export interface SuiteContext {
  /** Present only when the suite declared `needsCluster` and the control plane is up with the CRDs installed. */
  kc?: KubeConfig;
  kubeconfigPath?: string;
  /** kube-apiserver's audit log, when the harness started the local control plane (per-component request counts). */
  auditLog?: string;
  /** Progress lines for the console (stderr); never part of the report. */
  log: (line: string) => void;
}

/** What the report knows about a suite before running it. */
export interface SuiteInfo {
  /** Short id used by `--only` and as the BENCHMARKS.md section key, e.g. `placement`. */
  name: string;
  title: string;
  needsCluster: boolean;
  /** What it measures and how, for the reader of BENCHMARKS.md (markdown). */
  about?: string;
  /** The figures it reports and their targets, in words (shown while the suite has not run). */
  planned?: string[];
}

export interface Suite extends SuiteInfo {
  run(ctx: SuiteContext): Promise<Result[]>;
}

/**
 * Every target in this project is an upper bound: "the figure must be ≤ max", where `of` says which
 * number of the result is judged. A target that holds per sample (e.g. "probes ≤ classes + 1 in
 * every decision") is judged by the suite, which sets `met`. `text` is how it reads in the report.
 */
export type Target = { text: string; of: 'value' | 'median' | 'p99'; max: number } | { text: string; met: boolean };

/**
 * One reported figure. A distribution carries `median` and `p99` (nearest-rank) and `samples`;
 * a single number (a count, a total, a size) carries `value`. Absent numbers are printed as "—",
 * never guessed.
 */
export interface Result {
  /** Stable within the suite, e.g. `decision-cold@1000`; groups rows across runs. */
  id: string;
  label: string;
  unit: string;
  value?: number;
  median?: number;
  p99?: number;
  samples?: number;
  /** The figure the same harness measured for the exhaustive search, when there is one. */
  baseline?: number;
  target?: Target;
  note?: string;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  /** The API server's gitVersion, or why there is none. */
  kubernetes: string;
  os: string;
  /** 1-minute load average when the suite started: timings on a busy shared machine read high. */
  loadAverage?: number;
}

export type SuiteOutcome =
  | { suite: string; title: string; status: 'ran'; results: Result[]; command: string; date: string; machine: Machine; seconds: number }
  | { suite: string; title: string; status: 'not-run'; reason: string; command: string };

export type Verdict = 'pass' | 'fail' | 'no target' | 'no figure';

/** Pass iff the judged number exists and is within the target. */
export function judge(result: Result): Verdict {
  const target = result.target;
  if (!target) return 'no target';
  if ('met' in target) return target.met ? 'pass' : 'fail';
  const figure = result[target.of];
  if (figure === undefined || !Number.isFinite(figure)) return 'no figure';
  return figure <= target.max ? 'pass' : 'fail';
}

/** The command that reproduces one suite's figures. */
export function reproduceCommand(suite: string): string {
  return `npm run bench -- --only ${suite}`;
}
