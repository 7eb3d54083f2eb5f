// Starts the controller for a benchmark the way the chart does: the compiled entrypoint the image
// runs (`node dist/cli/main.js`, Containerfile), the container's args and its NODE_OPTIONS from the
// rendered Deployment (manifests/40-workloads.yaml, rendered from the chart's default values). Only
// what ties the process to this cluster is replaced: the kubeconfig, the namespace, the ports, and
// the webhook (off: the admission suite measures it). So a heap flag the chart does not set cannot
// flatter a figure, and one it does set is measured.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../dev/localcluster/paths.ts';
import { memoryCgroup, quantityBytes } from './memory-cgroup.ts';

const WORKLOADS = join(REPO_ROOT, 'manifests', '40-workloads.yaml');
const ENTRYPOINT = join(REPO_ROOT, 'dist', 'cli', 'main.js');

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  resources?: { limits?: { memory?: string } };
}

/** The controller container's args, literal env values and memory limit as the chart renders them. */
export function chartControllerContainer(path = WORKLOADS): { args: string[]; env: Record<string, string>; memoryLimit?: string } {
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    const o = doc.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { template?: { spec?: { containers?: Container[] } } } } | null;
    if (o?.kind !== 'Deployment' || !o.metadata?.name?.endsWith('-controller')) continue;
    const c = o.spec?.template?.spec?.containers?.find((x) => x.name === 'controller');
    if (!c) break;
    const env = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
    const memoryLimit = c.resources?.limits?.memory;
    return { args: c.args ?? [], env, ...(memoryLimit !== undefined ? { memoryLimit: String(memoryLimit) } : {}) };
  }
  throw new Error(`${path} has no controller Deployment with a container "controller": run \`npm run render:manifests\``);
}

let built: Promise<void> | undefined;

/** Compiles src/ to dist/ once per benchmark process (what the image's build stage does). */
export function buildOnce(log: (line: string) => void = () => undefined): Promise<void> {
  built ??= (async () => {
    log('compiling src/ to dist/ (npm run build), as the image does');
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json')], { cwd: REPO_ROOT });
  })();
  return built;
}

export interface ChartControllerOptions {
  kubeconfig: string;
  namespace: string;
  healthPort: number;
  /** Flags added after the chart's (a later flag wins), e.g. `--probe-timeout=5s`. */
  extraArgs?: string[];
  /** Environment replacing the chart's (e.g. another NODE_OPTIONS; `''` removes a variable), for comparing variants; not for the figures of record. */
  env?: Record<string, string>;
  /** Node flags before the entrypoint (as an image's `node … dist/cli/main.js` would pass them), for variants NODE_OPTIONS refuses. */
  nodeArgs?: string[];
  /** `false`: without the container's memory limit (to compare with figures measured before it). */
  memoryLimit?: false;
}

/** The flags that bind the chart's process to its pod and cluster, replaced for a local run. */
const PER_CLUSTER = /^--(namespace|webhook-port|webhook-mode|metrics-port|health-port|kubeconfig)(=|$)/;

/** The chart's command line with the per-cluster flags replaced; exported for the unit test. */
export function chartControllerCommand(opts: ChartControllerOptions, container = chartControllerContainer()): { args: string[]; env: Record<string, string> } {
  const [command, ...flags] = container.args;
  const args = [
    ...(opts.nodeArgs ?? []),
    ENTRYPOINT, command ?? 'controller',
    ...flags.filter((f) => !PER_CLUSTER.test(f)),
    `--kubeconfig=${opts.kubeconfig}`, `--namespace=${opts.namespace}`, '--webhook-port=0',
    `--health-port=${opts.healthPort}`, `--metrics-port=${opts.healthPort}`,
    ...(opts.extraArgs ?? []),
  ];
  // The pod's environment, not this shell's: a NODE_OPTIONS of the caller must not leak in.
  const { NODE_OPTIONS: _callers, ...inherited } = process.env;
  const merged = { ...inherited, ...container.env, ...opts.env } as Record<string, string>;
  return { args, env: Object.fromEntries(Object.entries(merged).filter(([k]) => opts.env?.[k] !== '')) };
}

let unlimitedSaid = false;

/**
 * Spawns the controller as the chart runs it (call `buildOnce` first): inside a memory cgroup with
 * the container's limit where the machine allows one (V8 sizes its heap from it), else without, and
 * says so once. It logs at the chart's level (its cost is part of the figures); only error lines
 * reach this console.
 */
export function spawnChartController(opts: ChartControllerOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): ChildProcess {
  const container = chartControllerContainer();
  const { args, env } = chartControllerCommand(opts, container);
  const cgroup = container.memoryLimit && opts.memoryLimit !== false ? memoryCgroup(quantityBytes(container.memoryLimit)) : undefined;
  if (!cgroup && opts.memoryLimit !== false && !unlimitedSaid) {
    unlimitedSaid = true;
    log(`the controller runs WITHOUT the chart's memory limit (${container.memoryLimit ?? 'none rendered'}): no writable memory cgroup here, so V8 sizes its heap from the host's memory`);
  }
  const cmd = cgroup ? cgroup.wrap(process.execPath, args) : { command: process.execPath, args };
  const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  child.once('exit', () => cgroup?.remove());
  let partial = '';
  child.stderr?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.includes('"level":"error"')) process.stderr.write(`[controller] ${line.slice(0, 400)}\n`);
  });
  return child;
}
