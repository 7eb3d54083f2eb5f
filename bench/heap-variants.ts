// Heap settings for the controller, compared in one run on one fleet: each variant is the chart's
// controller (bench/chart-controller.ts: compiled, the rendered args, inside the chart's memory
// limit) with another environment (NODE_OPTIONS, MALLOC_ARENA_MAX). Variants are interleaved round
// by round, so a load change on the shared machine hits them alike. Per controller life: RSS after
// sync (ready + the controller suite's settle time), its split (anonymous / file-backed) and V8's
// heap from /metrics; then warm dry-run decisions (created → Planned through a watch) with the
// scavenges and full GCs counted over exactly that window (prom-client's nodejs_gc_duration_seconds);
// then RSS and its peak (VmHWM) after them. The figures of record stay in `npm run bench`; this is
// the evidence behind the chart's default (docs/adr/0011).
//
//   node bench/heap-variants.ts [--nodes 1000] [--rounds 2] [--warm 60] [--only chart,semi2] [--kubeconfig PATH] [--keep]
//
// Without --kubeconfig it starts `.localcluster/heap` (stopped unless --keep). Writes .bench/heap-variants.json.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { down, REPO_ROOT, up } from '../dev/localcluster/index.ts';
import { freePort } from '../dev/localcluster/processes.ts';
import type { Vmi } from '../src/kubevirt/types.ts';
import { installBenchCrds } from './cluster-crds.ts';
import { buildOnce, chartControllerContainer, spawnChartController } from './chart-controller.ts';
import { cleanup, createFleet, migrationTimer, rssMiB, startResponders, stopController, waitReady } from './controller.ts';
import { summarize } from './stats.ts';

interface Variant {
  name: string;
  /** Replaces the chart's environment entries of the same name; `null` removes one. */
  env: Record<string, string | null>;
  /** Node flags on the command line, before the entrypoint (V8 flags NODE_OPTIONS does not accept). */
  nodeArgs?: string[];
  /** Runs without the chart's memory limit (the figures before the limit was applied). */
  unlimited?: boolean;
}

/** Every variant names both settings, so none depends on the chart's current default. */
const semi = (mib: number, more = '') => `--max-semi-space-size=${mib}${more}`;
const VARIANTS: Variant[] = [
  { name: 'chart', env: {} },
  { name: 'chart-unlimited', env: {}, unlimited: true },
  { name: 'v8-defaults', env: { NODE_OPTIONS: null, MALLOC_ARENA_MAX: null } },
  { name: 'semi8', env: { NODE_OPTIONS: semi(8), MALLOC_ARENA_MAX: null } },
  { name: 'semi4', env: { NODE_OPTIONS: semi(4), MALLOC_ARENA_MAX: null } },
  { name: 'semi2', env: { NODE_OPTIONS: semi(2), MALLOC_ARENA_MAX: null } },
  { name: 'semi8-old25pct', env: { NODE_OPTIONS: semi(8, ' --max-old-space-size-percentage=25'), MALLOC_ARENA_MAX: null } },
  { name: 'semi2-old25pct', env: { NODE_OPTIONS: semi(2, ' --max-old-space-size-percentage=25'), MALLOC_ARENA_MAX: null } },
  { name: 'semi8-arena2', env: { NODE_OPTIONS: semi(8), MALLOC_ARENA_MAX: '2' } },
  { name: 'semi4-arena2', env: { NODE_OPTIONS: semi(4), MALLOC_ARENA_MAX: '2' } },
  { name: 'semi2-old25pct-arena2', env: { NODE_OPTIONS: semi(2, ' --max-old-space-size-percentage=25'), MALLOC_ARENA_MAX: '2' } },
  // Node refuses --optimize-for-size in NODE_OPTIONS (exit 9): only the image's command line could pass it.
  { name: 'semi8-optsize', env: { NODE_OPTIONS: semi(8), MALLOC_ARENA_MAX: null }, nodeArgs: ['--optimize-for-size'] },
];

const { values: flags } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    warm: { type: 'string', default: '60' },
    only: { type: 'string' },
    kubeconfig: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const NODES = Number(flags.nodes);
const ROUNDS = Number(flags.rounds);
const WARM = Number(flags.warm);
const SETTLE_MS = 3_000;
const log = (line: string) => process.stderr.write(`[heap ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const load = () => Math.round((loadavg()[0] ?? 0) * 10) / 10;

function selected(): Variant[] {
  if (!flags.only) return VARIANTS;
  const names = flags.only.split(',');
  const unknown = names.filter((n) => !VARIANTS.some((v) => v.name === n));
  if (unknown.length > 0) throw new Error(`--only: unknown variant ${unknown.join(', ')}; choose from ${VARIANTS.map((v) => v.name).join(', ')}`);
  return VARIANTS.filter((v) => names.includes(v.name));
}

/** The variant's environment on top of the chart's (`''` removes the chart's entry). */
function envOf(v: Variant): Record<string, string> {
  return Object.fromEntries(Object.entries(v.env).map(([k, val]) => [k, val ?? '']));
}

interface Scrape {
  gc: Record<string, { count: number; seconds: number }>;
  heapTotalMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
}

async function scrape(port: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const gc: Scrape['gc'] = {};
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) {
    const k = (gc[m[2] as string] ??= { count: 0, seconds: 0 });
    if (m[1] === 'sum') k.seconds = Number(m[3]);
    else k.count = Number(m[3]);
  }
  const gauge = (name: string) => Number(new RegExp(`^${name} ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 2 ** 20;
  return { gc, heapTotalMiB: gauge('nodejs_heap_size_total_bytes'), heapUsedMiB: gauge('nodejs_heap_size_used_bytes'), externalMiB: gauge('nodejs_external_memory_bytes') };
}

function smaps(pid: number): { anonMiB: number; fileMiB: number; hwmMiB: number } {
  const roll = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (re: RegExp, text = roll) => Number(re.exec(text)?.[1] ?? Number.NaN) / 1024;
  const anon = kb(/^Anonymous:\s+(\d+) kB/m);
  return { anonMiB: r1(anon), fileMiB: r1(kb(/^Rss:\s+(\d+) kB/m) - anon), hwmMiB: r1(kb(/VmHWM:\s+(\d+) kB/, readFileSync(`/proc/${pid}/status`, 'utf8'))) };
}

const r1 = (n: number) => Math.round(n * 10) / 10;

interface Life {
  variant: string;
  round: number;
  loadStart: number;
  loadEnd: number;
  rssAfterSyncMiB: number;
  anonMiB: number;
  fileMiB: number;
  heapTotalMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  warmMs: number[];
  scavenges: number;
  scavengeMs: number;
  fullGcs: number;
  fullGcMs: number;
  rssAfterDecisionsMiB: number;
  peakRssMiB: number;
}

async function prepareCluster(): Promise<{ kc: KubeConfig; path: string; startedHere: boolean }> {
  let path = flags.kubeconfig;
  const startedHere = !path;
  if (!path) path = (await up({ name: 'heap', log })).kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  await installBenchCrds(kc, path);
  return { kc, path, startedHere };
}

async function main(): Promise<void> {
  const variants = selected();
  const limit = chartControllerContainer().memoryLimit;
  const { kc, path, startedHere } = await prepareCluster();
  await buildOnce(log);
  const run = `h${NODES}-${Math.random().toString(16).slice(2, 8)}`;
  log(`creating a fleet of ${NODES} nodes × 8 devices (load ${load()})`);
  const fleet = await createFleet(kc, run, NODES, 8, log);
  const responders = startResponders(kc, fleet);
  const timer = migrationTimer(kc, fleet.ns);
  await timer.start();
  const lives: Life[] = [];
  let seq = 0;
  const decide = async (i: number) => (await timer.decide(`d-${seq++}`, (fleet.sources[i % fleet.sources.length] as Vmi).metadata.name)).ms;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = variants.map((_, i) => variants[(i + round) % variants.length] as Variant);
      for (const v of order) {
        const loadStart = load();
        const port = await freePort();
        let child: ChildProcess | undefined;
        try {
          child = spawnChartController({ kubeconfig: path, namespace: fleet.ns, healthPort: port, env: envOf(v), ...(v.nodeArgs ? { nodeArgs: v.nodeArgs } : {}), ...(v.unlimited ? { memoryLimit: false } : {}) }, log);
          await waitReady(port, child);
          await new Promise((r) => setTimeout(r, SETTLE_MS));
          const pid = child.pid as number;
          const rssAfterSyncMiB = rssMiB(pid);
          const split = smaps(pid);
          const heap = await scrape(port);
          // One decision per source first: verdicts cached (the very first life probes), the JIT warm.
          for (let i = 0; i < fleet.sources.length; i++) await decide(i);
          const before = await scrape(port);
          const warmMs: number[] = [];
          for (let i = 0; i < WARM; i++) warmMs.push(await decide(i));
          const after = await scrape(port);
          const gcDelta = (kind: string) => ({ n: (after.gc[kind]?.count ?? 0) - (before.gc[kind]?.count ?? 0), ms: ((after.gc[kind]?.seconds ?? 0) - (before.gc[kind]?.seconds ?? 0)) * 1000 });
          const minor = gcDelta('minor');
          const major = gcDelta('major');
          const end = smaps(pid);
          const life: Life = {
            variant: v.name, round, loadStart, loadEnd: load(),
            rssAfterSyncMiB, anonMiB: split.anonMiB, fileMiB: split.fileMiB,
            heapTotalMiB: r1(heap.heapTotalMiB), heapUsedMiB: r1(heap.heapUsedMiB), externalMiB: r1(heap.externalMiB),
            warmMs, scavenges: minor.n, scavengeMs: r1(minor.ms), fullGcs: major.n, fullGcMs: r1(major.ms),
            rssAfterDecisionsMiB: rssMiB(pid), peakRssMiB: end.hwmMiB,
          };
          lives.push(life);
          const w = summarize(warmMs);
          log(`${v.name} r${round}: RSS after sync ${rssAfterSyncMiB} MiB (anon ${split.anonMiB}, file ${split.fileMiB}; heap ${life.heapUsedMiB}/${life.heapTotalMiB}), warm p50 ${r1(w.median)} p99 ${r1(w.p99)} ms, scavenges ${minor.n} (${life.scavengeMs} ms), full ${major.n} (${life.fullGcMs} ms), RSS after ${life.rssAfterDecisionsMiB}, peak ${life.peakRssMiB}; load ${loadStart} → ${life.loadEnd}`);
        } catch (err) {
          log(`${v.name} r${round} failed: ${(err as Error).message}`);
        } finally {
          if (child) await stopController(child);
        }
      }
    }
  } finally {
    await timer.stop();
    await responders.stop();
    await cleanup(kc, fleet, log);
    if (startedHere && !flags.keep) await down({ name: 'heap' });
  }
  mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
  writeFileSync(join(REPO_ROOT, '.bench', 'heap-variants.json'), JSON.stringify({ nodes: NODES, warm: WARM, memoryLimit: limit, lives }, null, 2));
  process.stdout.write(table(variants, lives));
}

function table(variants: Variant[], lives: Life[]): string {
  const rows = variants.map((v) => {
    const mine = lives.filter((l) => l.variant === v.name);
    if (mine.length === 0) return `| ${v.name} | no successful life |||||||`;
    const med = (f: (l: Life) => number) => r1(summarize(mine.map(f)).median);
    const w = summarize(mine.flatMap((l) => l.warmMs));
    const perDecision = (f: (l: Life) => number) => r1(mine.reduce((s, l) => s + f(l), 0) / (mine.length * WARM));
    return `| ${v.name} | \`${v.env.NODE_OPTIONS === undefined ? '(chart)' : (v.env.NODE_OPTIONS ?? '')}\`${v.env.MALLOC_ARENA_MAX ? ` MALLOC_ARENA_MAX=${v.env.MALLOC_ARENA_MAX}` : ''}${v.nodeArgs ? ` node ${v.nodeArgs.join(' ')}` : ''}${v.unlimited ? ' (no memory limit)' : ''} | ${mine.map((l) => l.rssAfterSyncMiB).join(' / ')} | ${med((l) => l.anonMiB)} | ${r1(w.median)} / ${r1(w.p99)} | ${perDecision((l) => l.scavengeMs)} | ${perDecision((l) => l.fullGcMs)} | ${mine.map((l) => l.peakRssMiB).join(' / ')} | ${mine.map((l) => `${l.loadStart}`).join(' / ')} |`;
  });
  return ['| Variant | Environment | RSS after sync (MiB, per life) | anon (median) | warm p50 / p99 (ms) | scavenge ms / decision | full GC ms / decision | peak RSS (MiB) | load at start |', '|---|---|---|---:|---|---:|---:|---|---|', ...rows, ''].join('\n');
}

await main();
// Keep-alive connections of the shared transport would hold the process open.
process.exit(0);
