// One real worker node for the local control plane (`cluster:up --nodes 1`): containerd + runc,
// the kubelet, kube-proxy (nftables) and kube-scheduler, on a pod bridge that never reaches the
// outside. Host changes go through the journal first, so every way out — `down`, a failed `up`, a
// stale run found later — undoes them.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { access, constants, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runBuildScript } from '../build.ts';
import { ClusterError } from '../errors.ts';
import { kubeconfigYaml } from '../kubeconfig.ts';
import type { ClusterPaths } from '../paths.ts';
import type { Pki } from '../pki.ts';
import { freePort, isOurs, logTail, spawnDaemon, stopProcess } from '../processes.ts';
import { buildOciArchive, importOciArchive } from './oci-image.ts';
import { getJson, nodeReady, type NodeObject } from './api.ts';
import { containerdConfig, cniConfig, kubeletConfig, PAUSE_IMAGE } from './configs.ts';
import { run, tryRun } from './exec.ts';
import { cgroupRoots, HostJournal } from './host-journal.ts';
import { HARD_CODED_PATHS, NODE_IP, NODE_NAME, POD_CIDR, SYSCTLS, nodePaths, nodeTools, type NodePaths, type NodeTools } from './layout.ts';
import { acquireMachineLock, readHolder, releaseMachineLock, type LockHolder } from './machine-lock.ts';
import { checkNetworkFree, setUpNetwork } from './network.ts';
import { ensureNodePki, type NodePki } from './node-pki.ts';

export const NODE_COMPONENTS = ['containerd', 'kube-scheduler', 'kubelet', 'kube-proxy'] as const;
export type NodeComponent = (typeof NODE_COMPONENTS)[number];

export interface NodeState {
  name: string;
  pids: Partial<Record<NodeComponent, number>>;
  ports: { kubelet: number; kubeletHealthz: number; proxyHealthz: number; proxyMetrics: number };
  toolsDir: string;
}

export interface NodeContext {
  paths: ClusterPaths;
  pki: Pki;
  server: string;
  node: NodeState;
  /** Persists the cluster state (called after each spawn, so `down` finds every process). */
  save: () => void;
  log: (line: string) => void;
}

/** Kubelet must be Ready within this; otherwise `up` fails with the end of its log. */
export const KUBELET_READY_MS = Number(process.env.MDEV_KUBELET_READY_MS ?? 180_000);

export function componentBin(c: NodeComponent, t: NodeTools): string {
  return { containerd: t.containerd, 'kube-scheduler': t.kubeScheduler, kubelet: t.kubelet, 'kube-proxy': t.kubeProxy }[c];
}

/** Root, the host tools, then the node's binaries (built on first use, like the control plane's). */
export async function ensureNodePrerequisites(log: (l: string) => void): Promise<NodeTools> {
  if (process.getuid?.() !== 0) {
    throw new ClusterError('a real node (--nodes 1) needs root: it creates a bridge, nftables tables, cgroups and mounts', 'run it as root (sudo -E npm run cluster:up -- --nodes 1)');
  }
  for (const [tool, pkg] of [['ip', 'iproute2'], ['tar', 'tar'], ['openssl', 'openssl']] as const) {
    if ((await tryRun(tool, ['-V'])).code === 127 && (await tryRun(tool, ['--version'])).code === 127) {
      throw new ClusterError(`${tool} is missing (the real node needs it)`, `apt-get install -y ${pkg}`);
    }
  }
  const t = nodeTools();
  const all = [t.kubelet, t.kubeScheduler, t.kubeProxy, t.containerd, t.ctr, t.shim, t.runc, t.pause, t.nft.bin, t.umoci];
  const present = await Promise.all(all.map((f) => access(f, constants.X_OK).then(() => true, () => false)));
  if (present.every(Boolean)) return t;
  log('[node] building the real node\'s components (first run only; see scripts/build-node.sh)');
  const { code, error } = await runBuildScript('build-node.sh', 'node');
  if (code !== 0) throw new ClusterError(`building the real node failed${error ? `: ${error}` : ''}`, 'follow the advice in that message; `bash scripts/build-node.sh` retries the build alone');
  return t;
}

/**
 * Takes the machine's one real-node slot and prepares the host (journal first): the pod bridge,
 * the Service route and the egress guard, before kube-apiserver binds the bridge address.
 */
export async function prepareNodeHost(p: ClusterPaths, t: NodeTools): Promise<void> {
  await acquireMachineLock(p.root, holderRuns, async (h) => void (await stopNode(h.cluster, undefined)));
  const np = nodePaths(p.root);
  await mkdir(np.dir, { recursive: true });
  await checkNetworkFree().catch((err: unknown) => {
    releaseMachineLock(p.root);
    throw err;
  });
  const journal = new HostJournal(np.journal);
  for (const key of SYSCTLS) journal.recordSysctl(key);
  for (const path of HARD_CODED_PATHS) journal.recordPathIfAbsent(topmostAbsent(path));
  journal.record({ kind: 'symlinks', dir: '/var/log/containers', target: np.dir });
  journal.record({ kind: 'cgroup', name: 'kubepods' });
  for (const family of ['ip', 'ip6']) journal.record({ kind: 'nft-table', family, name: 'kube-proxy' });
  await setUpNetwork(journal, t);
}

/** The shallowest missing directory on the way to `path` (removing it removes what we made). */
function topmostAbsent(path: string): string {
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const prefix = `/${parts.slice(0, i).join('/')}`;
    if (!existsSync(prefix)) return prefix;
  }
  return path;
}

function holderRuns(h: LockHolder): boolean {
  if (pidAlive(h.pid) && h.pid !== process.pid) return true;
  const state = readNodeState(h.cluster);
  if (!state) return false;
  const t = nodeTools();
  return NODE_COMPONENTS.some((c) => state.pids[c] !== undefined && isOurs(state.pids[c], componentBin(c, t)));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readNodeState(clusterRoot: string): NodeState | undefined {
  try {
    return (JSON.parse(readFileSync(join(clusterRoot, 'state.json'), 'utf8')) as { node?: NodeState }).node;
  } catch {
    return undefined;
  }
}

export async function newNodeState(t: NodeTools): Promise<NodeState> {
  return {
    name: NODE_NAME, pids: {}, toolsDir: t.dir,
    ports: { kubelet: await freePort(), kubeletHealthz: await freePort(), proxyHealthz: await freePort(), proxyMetrics: await freePort() },
  };
}

/** kube-apiserver flags for a cluster with a node: reachable from pods, dials kubelets by IP, verifies them. */
export async function apiserverNodeFlags(p: ClusterPaths, pki: Pki): Promise<string[]> {
  const np = nodePaths(p.root);
  const nodePki = await ensureNodePki(np.pki, pki);
  return [
    `--bind-address=${NODE_IP}`, `--advertise-address=${NODE_IP}`, '--endpoint-reconciler-type=lease',
    '--kubelet-preferred-address-types=InternalIP,Hostname',
    `--kubelet-client-certificate=${nodePki.apiserverKubeletClientCert}`, `--kubelet-client-key=${nodePki.apiserverKubeletClientKey}`,
    `--kubelet-certificate-authority=${pki.ca}`,
  ];
}

/** KCM controllers a node needs beyond the default cluster's (workloads, Services, node health). */
export const NODE_KCM_CONTROLLERS = [
  'deployment-controller', 'replicaset-controller', 'daemonset-controller', 'endpoints-controller', 'endpointslice-controller',
  'node-lifecycle-controller', 'taint-eviction-controller', 'pod-garbage-collector-controller', 'disruption-controller',
];

export async function startNode(ctx: NodeContext): Promise<void> {
  const t = nodeTools();
  const np = nodePaths(ctx.paths.root);
  const nodePki = await ensureNodePki(np.pki, ctx.pki);
  await writeNodeFiles(ctx, np, t, nodePki);
  await startContainerd(ctx, np, t);
  await loadPauseImage(np, t);
  startScheduler(ctx, np, t);
  await startKubelet(ctx, np, t);
  await startKubeProxy(ctx, np, t);
  await waitUntil(60_000, async () => !(await getJson<NodeObject>(ctx.server, `/api/v1/nodes/${NODE_NAME}`, ctx.pki)).body?.spec?.taints?.length,
    () => new ClusterError(`node ${NODE_NAME} kept its not-ready taint for 60s`, `see ${join(ctx.paths.logs, 'kube-controller-manager.log')}`));
}

async function writeNodeFiles(ctx: NodeContext, np: NodePaths, t: NodeTools, nodePki: NodePki): Promise<void> {
  for (const d of [np.logs, np.etc, np.cni.conf, np.cni.ipam, np.kubelet.root, np.kubelet.podLogs, np.images]) await mkdir(d, { recursive: true });
  const ca = readFileSync(ctx.pki.ca, 'utf8');
  await writeFile(np.containerd.config, containerdConfig(np, t));
  await writeFile(join(np.cni.conf, '10-mdev-localnode.conflist'), cniConfig(np));
  // Pods have no cluster DNS here; an empty resolver keeps the host's out of them.
  const resolv = join(np.etc, 'resolv.conf');
  await writeFile(resolv, 'nameserver 127.0.0.1\n');
  await writeFile(np.kubelet.config, kubeletConfig(np, nodePki, ctx.pki.ca, { port: ctx.node.ports.kubelet, healthz: ctx.node.ports.kubeletHealthz }, resolv));
  await writeFile(np.kubelet.kubeconfig, kubeconfigYaml(ctx.server, {
    ca, cert: readFileSync(nodePki.kubeletClientCert, 'utf8'), key: readFileSync(nodePki.kubeletClientKey, 'utf8'),
  }, `system:node:${NODE_NAME}`), { mode: 0o600 });
}

function spawnNode(ctx: NodeContext, np: NodePaths, t: NodeTools, c: NodeComponent, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const pid = spawnDaemon(componentBin(c, t), args, join(np.logs, `${c}.log`), env);
  ctx.node.pids[c] = pid;
  ctx.save();
  return pid;
}

async function startContainerd(ctx: NodeContext, np: NodePaths, t: NodeTools): Promise<void> {
  // containerd finds containerd-shim-runc-v2 on PATH.
  const pid = spawnNode(ctx, np, t, 'containerd', ['--config', np.containerd.config], { ...process.env, PATH: `${t.binDir}:${process.env.PATH ?? ''}` });
  await waitComponent('containerd', pid, t, np, 30_000, async () => (await tryRun(t.ctr, ['--address', np.containerd.socket, 'version'])).code === 0);
}

/** The sandbox image: Kubernetes' pause.c, built statically, in a one-layer image made with umoci. */
async function loadPauseImage(np: NodePaths, t: NodeTools): Promise<void> {
  const archive = join(np.images, 'pause.tar');
  if (!existsSync(archive)) {
    const dir = join(np.images, 'pause-root');
    await mkdir(dir, { recursive: true });
    await run('cp', [t.pause, join(dir, 'pause')]);
    await buildOciArchive(t.umoci, { tag: PAUSE_IMAGE.split(':')[1]!, layers: [{ src: dir, dest: '/' }], config: { entrypoint: ['/pause'] } }, archive, np.images);
  }
  await importOciArchive(t.ctr, np.containerd.socket, archive, PAUSE_IMAGE.split(':')[0]!);
}

function startScheduler(ctx: NodeContext, np: NodePaths, t: NodeTools): void {
  const kc = ctx.paths.kubeconfig;
  spawnNode(ctx, np, t, 'kube-scheduler', [`--kubeconfig=${kc}`, `--authentication-kubeconfig=${kc}`, `--authorization-kubeconfig=${kc}`,
    '--leader-elect=false', '--secure-port=0', '--v=1']);
}

async function startKubelet(ctx: NodeContext, np: NodePaths, t: NodeTools): Promise<void> {
  const pid = spawnNode(ctx, np, t, 'kubelet', [`--config=${np.kubelet.config}`, `--kubeconfig=${np.kubelet.kubeconfig}`,
    `--root-dir=${np.kubelet.root}`, `--hostname-override=${NODE_NAME}`, `--node-ip=${NODE_IP}`, '--v=1']);
  await waitComponent('kubelet', pid, t, np, KUBELET_READY_MS,
    async () => nodeReady((await getJson<NodeObject>(ctx.server, `/api/v1/nodes/${NODE_NAME}`, ctx.pki)).body), `node ${NODE_NAME} Ready`);
}

async function startKubeProxy(ctx: NodeContext, np: NodePaths, t: NodeTools): Promise<void> {
  const { proxyHealthz, proxyMetrics } = ctx.node.ports;
  // kube-proxy runs `nft`: the Debian binary, with its libraries, from the node's cache.
  const pid = spawnNode(ctx, np, t, 'kube-proxy', [`--kubeconfig=${ctx.paths.kubeconfig}`, '--proxy-mode=nftables', `--cluster-cidr=${POD_CIDR}`,
    `--hostname-override=${NODE_NAME}`, `--healthz-bind-address=127.0.0.1:${proxyHealthz}`, `--metrics-bind-address=127.0.0.1:${proxyMetrics}`,
    '--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=0', '--conntrack-tcp-timeout-close-wait=0', '--v=1'],
  { ...process.env, PATH: `${t.nftDir}:${process.env.PATH ?? ''}`, LD_LIBRARY_PATH: t.nft.libDir });
  await waitComponent('kube-proxy', pid, t, np, 60_000, async () => (await tryRun(t.nft.bin, ['list', 'table', 'ip', 'kube-proxy'], { env: { LD_LIBRARY_PATH: t.nft.libDir } })).code === 0);
}

async function waitComponent(c: NodeComponent, pid: number, t: NodeTools, np: NodePaths, ms: number, ready: () => Promise<boolean>, what = `${c} ready`): Promise<void> {
  const log = join(np.logs, `${c}.log`);
  const tail = () => logTail(log, 12).split('\n').map((l) => `  ${l.slice(0, 300)}`).join('\n');
  await waitUntil(ms, async () => {
    if (!isOurs(pid, componentBin(c, t))) throw new ClusterError(`${c} exited during start-up; the end of its log:\n${tail()}\n  (full log: ${log})`, 'fix the cause named in the log, then run `cluster:up` again');
    return ready();
  }, () => new ClusterError(`${what} did not happen within ${ms / 1000}s; the end of ${c}'s log:\n${tail()}\n  (full log: ${log})`,
    'fix the cause named in the log, then run `cluster:up` again'));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(ms: number, check: () => Promise<boolean>, timeout: () => Error): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(500);
  }
  throw timeout();
}

/**
 * Stops kube-proxy and removes its nftables tables: the node as it is before kube-proxy has
 * programmed any Service (the network-safety test sends a pod's request to a ClusterIP then).
 */
export async function stopKubeProxy(node: NodeState): Promise<void> {
  const t = nodeTools();
  const pid = node.pids['kube-proxy'];
  if (pid !== undefined) await stopProcess(pid, t.kubeProxy, 2_000);
  delete node.pids['kube-proxy'];
  for (const family of ['ip', 'ip6']) await tryRun(t.nft.bin, ['delete', 'table', family, 'kube-proxy'], { env: { LD_LIBRARY_PATH: t.nft.libDir } });
}

export async function restartKubeProxy(ctx: NodeContext): Promise<void> {
  await startKubeProxy(ctx, nodePaths(ctx.paths.root), nodeTools());
}

/**
 * Stops the node of the cluster in `clusterRoot` and undoes every host change in its journal:
 * scheduler and kubelet first (nothing new starts), then every container, the shims, containerd
 * and kube-proxy, then mounts, cgroups, nftables tables, route, bridge, sysctls and paths.
 * Returns what it stopped. Safe to call again (everything is idempotent).
 */
export async function stopNode(clusterRoot: string, state: NodeState | undefined): Promise<string[]> {
  const np = nodePaths(clusterRoot);
  const t = nodeTools();
  const node = state ?? readNodeState(clusterRoot);
  const stopped: string[] = [];
  const stop = async (c: NodeComponent, graceMs?: number) => {
    const pid = node?.pids[c];
    if (pid === undefined || !isOurs(pid, componentBin(c, t))) return;
    stopped.push(`${c} (pid ${pid})`);
    await stopProcess(pid, componentBin(c, t), graceMs);
  };
  await stop('kube-scheduler', 2_000);
  await stop('kubelet', 5_000);
  await killContainers();
  await killShims(np, t);
  await stop('containerd', 5_000);
  await stop('kube-proxy', 2_000);
  await unmountUnder([np.dir]);
  if (existsSync(np.journal)) await new HostJournal(np.journal).undo({ nft: t.nft });
  if (readHolder()?.cluster === clusterRoot) releaseMachineLock(clusterRoot);
  return stopped;
}

/** SIGKILLs every process in the kubelet's pod cgroups (the containers), until none is left. */
async function killContainers(): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = cgroupRoots().flatMap((root) => procsUnder(join(root, 'kubepods')));
    if (pids.length === 0) return;
    for (const pid of new Set(pids)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(100);
  }
}

function procsUnder(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const out: number[] = [];
  try {
    out.push(...readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
  } catch {
    /* not a cgroup dir */
  }
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...procsUnder(join(dir, e.name)));
  return out;
}

/** The runc shims of our containerd (their exe is the node's shim binary), by pid. */
async function killShims(np: NodePaths, t: NodeTools): Promise<void> {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let exe: string;
    try {
      exe = readlinkSync(`/proc/${entry}/exe`);
    } catch {
      continue;
    }
    if (exe !== t.shim && exe !== t.runc) continue;
    const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    if (!cmdline.includes(np.dir) && !cmdline.includes(np.containerd.socket)) continue;
    await stopProcess(Number(entry), exe, 1_000).catch(() => undefined);
  }
}

/** Unmounts everything mounted below the given prefixes, deepest first (lazily if busy). */
async function unmountUnder(prefixes: string[]): Promise<void> {
  const targets = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => l.split(' ')[4]!.replace(/\\040/g, ' '))
    .filter((m) => prefixes.some((p) => m.startsWith(p.endsWith('/') ? p : `${p}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of targets) {
    if ((await tryRun('umount', [m])).code !== 0) await tryRun('umount', ['-l', m]);
  }
}
