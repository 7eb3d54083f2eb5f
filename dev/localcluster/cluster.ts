// The local control plane: etcd, kube-apiserver and a subset of kube-controller-manager on
// loopback, free ports, with an admin kubeconfig. Every wait has a deadline, and a failed start
// stops whatever it had started, so a half-started cluster is never left behind.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { basename, join } from 'node:path';
import { binaryPath, ensureBinaries } from './build.ts';
import { ClusterError } from './errors.ts';
import { clusterPaths, type ClusterPaths } from './paths.ts';
import { ensurePki, ensureServerSan, type Pki } from './pki.ts';
import { getJson, nodeReady, type NodeObject } from './node/api.ts';
import { nodePaths, nodeTools, NODE_IP, POD_CIDR, SERVICE_CIDR } from './node/layout.ts';
import { apiserverNodeFlags, componentBin, ensureNodePrerequisites, newNodeState, NODE_COMPONENTS, NODE_KCM_CONTROLLERS, prepareNodeHost, restartKubeProxy, startNode, stopKubeProxy, stopNode, type NodeComponent, type NodeState } from './node/node.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { freePort, isOurs, logSummary, logTail, portInUse, spawnDaemon, stopProcess } from './processes.ts';

const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager'] as const;
type Component = (typeof COMPONENTS)[number];

export const KCM_CONTROLLERS = [
  'garbage-collector-controller', 'namespace-controller', 'serviceaccount-controller',
  'serviceaccount-token-controller', 'root-ca-certificate-publisher-controller', 'clusterrole-aggregation-controller',
];

interface State {
  pids: Partial<Record<Component, number>>;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number };
  binDir: string;
  startedAt: string;
  /** Where kube-apiserver listens: loopback, or the real node's bridge address when there is a node. */
  host?: string;
  /** The real node (`--nodes 1`), if any. */
  node?: NodeState;
  /** The audit log kube-apiserver writes, when started with `audit`. */
  auditLog?: string;
}

/** Loopback, the node's bridge and the Service range (webhooks are called by ClusterIP) never go through a proxy. */
const NO_PROXY = `127.0.0.1,localhost,${NODE_IP},${SERVICE_CIDR},${POD_CIDR}`;

function serverOf(state: State): string {
  return `https://${state.host ?? '127.0.0.1'}:${state.ports.apiserver}`;
}

export interface LocalCluster {
  name: string;
  kubeconfig: string;
  server: string;
  paths: ClusterPaths;
  pids: Partial<Record<Component, number>>;
  /** kube-apiserver's audit log (JSON lines), when the cluster was started with `audit`. */
  auditLog?: string;
}

export interface UpOptions {
  name?: string;
  log?: (line: string) => void;
  /** Fixed apiserver port (default: a free one). */
  apiserverPort?: number;
  /**
   * 1: also run one real worker node (containerd, kubelet, kube-proxy, kube-scheduler and the
   * workload controllers; root only, one per machine). 0 (default): the control plane alone.
   */
  nodes?: 0 | 1;
  /**
   * Write an audit log of every non-watch request at Metadata level (who, which user agent, verb,
   * resource, code), e.g. to count each component's API requests in a benchmark. An existing
   * cluster started without it is reused as it is (auditLog absent).
   */
  audit?: boolean;
}

/** Every request but watches, at Metadata level (no bodies), once it completed. */
const AUDIT_POLICY = [
  'apiVersion: audit.k8s.io/v1', 'kind: Policy', 'omitStages: [RequestReceived, ResponseStarted]',
  'rules:', '- level: None', '  verbs: [watch]', '- level: Metadata', '',
].join('\n');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readState(p: ClusterPaths): Promise<State | undefined> {
  try {
    return JSON.parse(await readFile(p.state, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function aliveComponents(state: State): Component[] {
  return COMPONENTS.filter((c) => {
    const pid = state.pids[c];
    return pid !== undefined && isOurs(pid, join(state.binDir, c));
  });
}

function probe(url: string, pki?: Pki): Promise<number> {
  return new Promise((resolve) => {
    const opts = pki
      ? { ca: readFileSyncCached(pki.ca), cert: readFileSyncCached(pki.adminCert), key: readFileSyncCached(pki.adminKey), timeout: 2000 }
      : { timeout: 2000 };
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(url, opts, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const fileCache = new Map<string, string>();
function readFileSyncCached(f: string): string {
  let v = fileCache.get(f);
  if (v === undefined) {
    v = readFileSync(f, 'utf8');
    fileCache.set(f, v);
  }
  return v;
}

async function waitFor(what: Component, check: () => Promise<boolean>, pid: number, p: ClusterPaths, ms: number): Promise<void> {
  const bin = binaryPath(what);
  const log = join(p.logs, `${what}.log`);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (!isOurs(pid, bin)) {
      throw new ClusterError(`${what} exited during start-up:\n${logSummary(log)}`, hintFor(what, logTail(log, 60), p));
    }
    await sleep(250);
  }
  throw new ClusterError(`${what} was not ready within ${ms / 1000}s:\n${logSummary(log)}`, hintFor(what, logTail(log, 60), p));
}

/** `npm run cluster:<action>` spelled for this cluster's name (the default one needs no --name). */
export function npmClusterCommand(p: ClusterPaths, action: 'up' | 'down', ...flags: string[]): string {
  const args = [...(basename(p.root) === '.localcluster' ? [] : ['--name', basename(p.root)]), ...flags];
  return `npm run cluster:${action}${args.length ? ` -- ${args.join(' ')}` : ''}`;
}

function hintFor(what: Component, log: string, p: ClusterPaths): string {
  const again = `\`${npmClusterCommand(p, 'down', '--purge')}\` then \`${npmClusterCommand(p, 'up')}\``;
  if (/address already in use/i.test(log)) return `another process took ${what}'s port; run ${again} (ports are chosen afresh)`;
  if (what === 'etcd' && /(failed to open database|invalid database|corrupt|wal:|snap\/db|failed to recover)/i.test(log)) {
    return `the etcd data directory ${join(p.data, 'etcd')} is stale or corrupt; run ${again}`;
  }
  return `see the full log in ${join(p.logs, `${what}.log`)}; ${again} starts from scratch`;
}

/** Records a spawned pid at once, so a `down` after an interrupted `up` still finds the process. */
function recordPid(p: ClusterPaths, state: State, c: Component, pid: number): void {
  state.pids[c] = pid;
  writeFileSync(p.state, JSON.stringify(state, null, 2));
}


/**
 * Returns the running cluster if it is healthy. A cluster whose control-plane component crashed
 * (its process is gone, its data and kubeconfig are there) gets that component started again in
 * place: same data, same ports, so the kubeconfig and every client keep working. Only a cluster
 * that cannot be repaired so (no data, a dead real node) is stopped and started fresh.
 */
async function reuseOrRepair(p: ClusterPaths, log: (l: string) => void, nodes: number): Promise<LocalCluster | undefined> {
  const state = await readState(p);
  if (!state) return undefined;
  const alive = aliveComponents(state);
  const server = serverOf(state);
  const nodeAlive = state.node ? aliveNodeComponents(state.node).length === NODE_COMPONENTS.length : true;
  const existing = (): LocalCluster => {
    if (nodes > 0 && !state.node) {
      throw new ClusterError(`the local cluster in ${p.root} already runs without a node`,
        `stop it first (\`${npmClusterCommand(p, 'down')}\`), then ask for the node again`);
    }
    return { name: p.root, kubeconfig: p.kubeconfig, server, paths: p, pids: state.pids, ...(state.auditLog ? { auditLog: state.auditLog } : {}) };
  };
  const repairable = nodeAlive && existsSync(p.kubeconfig) && existsSync(join(p.data, 'etcd'));
  if (alive.length === COMPONENTS.length && repairable) {
    const pki = await ensurePki(p.pki);
    if ((await probe(`${server}/readyz`, pki)) === 200) return existing();
    // Every process runs but the API server is not ready (yet): wait as a start would, never wipe.
    const pid = state.pids['kube-apiserver'] as number;
    await waitFor('kube-apiserver', async () => (await probe(`${server}/readyz`, pki)) === 200, pid, p, 120_000);
    return existing();
  }
  const missing = COMPONENTS.filter((c) => !alive.includes(c));
  if (repairable) {
    log(`[cluster] ${missing.join(', ')} of the cluster in ${p.root} ${missing.length === 1 ? 'is' : 'are'} not running; starting ${missing.length === 1 ? 'it' : 'them'} again in place (same data and ports)`);
    const pki = await ensurePki(p.pki);
    const start = { etcd: () => startEtcd(p, state), 'kube-apiserver': () => startApiserver(p, pki, state, server), 'kube-controller-manager': () => startKcm(p, pki, state, server) };
    for (const c of missing) {
      delete state.pids[c];
      await start[c]();
    }
    // kube-apiserver may have been running without etcd: it is ready only once etcd is back.
    if (!missing.includes('kube-apiserver')) await waitFor('kube-apiserver', async () => (await probe(`${server}/readyz`, pki)) === 200, state.pids['kube-apiserver'] as number, p, 120_000);
    writeFileSync(p.state, JSON.stringify(state, null, 2));
    return existing();
  }
  const why = !nodeAlive ? 'its real node is not running' : 'its data or kubeconfig is gone';
  log(`[cluster] the cluster in ${p.root} cannot be restarted in place (${why}; running: ${alive.join(', ') || 'none'}); stopping it and starting fresh`);
  // Its data is discarded next, so a graceful shutdown buys nothing; kube-apiserver without
  // etcd would otherwise sit out the whole grace period.
  await stopState(state, 1_000, p.root);
  await rm(p.data, { recursive: true, force: true });
  await rm(p.state, { force: true });
  return undefined;
}

async function stopState(state: State, graceMs?: number, root?: string): Promise<string[]> {
  // The node goes first, while the API server still answers, and undoes its host changes.
  const stopped = root !== undefined && (state.node || existsSync(nodePaths(root).journal)) ? await stopNode(root, state.node) : [];
  for (const c of [...COMPONENTS].reverse()) {
    const pid = state.pids[c];
    if (pid !== undefined) await stopProcess(pid, join(state.binDir, c), graceMs);
  }
  return stopped;
}

function aliveNodeComponents(node: NodeState): NodeComponent[] {
  const t = nodeTools();
  return NODE_COMPONENTS.filter((c) => node.pids[c] !== undefined && isOurs(node.pids[c], componentBin(c, t)));
}

export async function up(opts: UpOptions = {}): Promise<LocalCluster> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const p = clusterPaths(opts.name);
  const nodes = opts.nodes ?? 0;
  const existing = await reuseOrRepair(p, log, nodes);
  if (existing) return existing;
  // Checked before anything is built or generated: a taken fixed port fails at once.
  if (opts.apiserverPort !== undefined && (await portInUse(opts.apiserverPort))) {
    throw new ClusterError(
      `port 127.0.0.1:${opts.apiserverPort} asked for kube-apiserver is already in use by another process`,
      `stop that process (\`ss -ltnp 'sport = :${opts.apiserverPort}'\` names it) or leave the port unset so a free one is chosen`,
    );
  }

  const binDir = await ensureBinaries(log);
  const tools = nodes > 0 ? await ensureNodePrerequisites(log) : undefined;
  await mkdir(p.logs, { recursive: true });
  await mkdir(p.data, { recursive: true });
  const pki = await ensurePki(p.pki);
  const ports = { etcdClient: await freePort(), etcdPeer: await freePort(), apiserver: opts.apiserverPort ?? (await freePort()) };
  const state: State = { pids: {}, ports, binDir, startedAt: new Date().toISOString(), ...(opts.audit ? { auditLog: join(p.logs, 'audit.log') } : {}) };
  if (tools) {
    state.host = NODE_IP;
    state.node = await newNodeState(tools);
  }
  const server = serverOf(state);
  try {
    if (tools) {
      writeFileSync(p.state, JSON.stringify(state, null, 2));
      await prepareNodeHost(p, tools);
      await ensureServerSan(pki, NODE_IP);
    }
    await startEtcd(p, state);
    await startApiserver(p, pki, state, server);
    await writeFile(p.kubeconfig, kubeconfigYaml(server, { ca: readFileSyncCached(pki.ca), cert: readFileSyncCached(pki.adminCert), key: readFileSyncCached(pki.adminKey) }), { mode: 0o600 });
    await startKcm(p, pki, state, server);
    if (state.node) {
      log(`[cluster] starting the real node ${state.node.name}`);
      const node = state.node;
      await startNode({ paths: p, pki, server, node, log, save: () => writeFileSync(p.state, JSON.stringify(state, null, 2)) });
    }
  } catch (err) {
    // A failed start leaves nothing running and no host change behind.
    await stopState(state, undefined, p.root).catch((cleanup: unknown) => log(`[cluster] clean-up after the failed start: ${(cleanup as Error).message}`));
    await rm(p.state, { force: true });
    throw err;
  }
  return { name: p.root, kubeconfig: p.kubeconfig, server, paths: p, pids: state.pids, ...(state.auditLog ? { auditLog: state.auditLog } : {}) };
}

async function startEtcd(p: ClusterPaths, state: State): Promise<void> {
  const bin = binaryPath('etcd');
  const { etcdClient, etcdPeer } = state.ports;
  const logFile = join(p.logs, 'etcd.log');
  const pid = spawnDaemon(bin, [
    '--name', 'local', '--data-dir', join(p.data, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `local=http://127.0.0.1:${etcdPeer}`,
    '--unsafe-no-fsync', '--log-level', 'warn', '--quota-backend-bytes', String(4 * 1024 ** 3),
  ], logFile);
  recordPid(p, state, 'etcd', pid);
  await waitFor('etcd', async () => (await probe(`http://127.0.0.1:${etcdClient}/health`)) === 200, pid, p, 30_000);
}

async function auditFlags(p: ClusterPaths, state: State): Promise<string[]> {
  if (!state.auditLog) return [];
  const policy = join(p.root, 'audit-policy.yaml');
  await writeFile(policy, AUDIT_POLICY);
  // Batch mode: the request does not wait for the log write.
  return [`--audit-policy-file=${policy}`, `--audit-log-path=${state.auditLog}`, '--audit-log-mode=batch', '--audit-log-maxsize=0'];
}

async function startApiserver(p: ClusterPaths, pki: Pki, state: State, server: string): Promise<void> {
  const bin = binaryPath('kube-apiserver');
  const logFile = join(p.logs, 'kube-apiserver.log');
  const audit = await auditFlags(p, state);
  const pid = spawnDaemon(bin, [
    `--etcd-servers=http://127.0.0.1:${state.ports.etcdClient}`,
    ...(state.node ? await apiserverNodeFlags(p, pki) : ['--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none']),
    `--secure-port=${state.ports.apiserver}`,
    `--cert-dir=${p.pki}`, `--tls-cert-file=${pki.serverCert}`, `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.ca}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
    '--authorization-mode=Node,RBAC', '--service-cluster-ip-range=10.0.0.0/24', '--allow-privileged=true',
    '--enable-priority-and-fairness=false', '--max-requests-inflight=1600', '--max-mutating-requests-inflight=800',
    '--v=1', ...audit,
  ], logFile, { ...process.env, NO_PROXY: NO_PROXY, no_proxy: NO_PROXY });
  recordPid(p, state, 'kube-apiserver', pid);
  await waitFor('kube-apiserver', async () => (await probe(`${server}/readyz`, pki)) === 200, pid, p, 120_000);
}

async function startKcm(p: ClusterPaths, pki: Pki, state: State, server: string): Promise<void> {
  const bin = binaryPath('kube-controller-manager');
  const logFile = join(p.logs, 'kube-controller-manager.log');
  const pid = spawnDaemon(bin, [
    `--kubeconfig=${p.kubeconfig}`, '--leader-elect=false', '--secure-port=0',
    `--controllers=${[...KCM_CONTROLLERS, ...(state.node ? NODE_KCM_CONTROLLERS : [])].join(',')}`,
    `--root-ca-file=${pki.ca}`, `--service-account-private-key-file=${pki.saKey}`,
    '--use-service-account-credentials=false', '--concurrent-gc-syncs=10', '--v=1',
  ], logFile);
  recordPid(p, state, 'kube-controller-manager', pid);
  // The default ServiceAccount appearing proves the controllers run and reach the apiserver.
  const sa = `${server}/api/v1/namespaces/default/serviceaccounts/default`;
  await waitFor('kube-controller-manager', async () => (await probe(sa, pki)) === 200, pid, p, 90_000);
}

export async function down(opts: { name?: string; purge?: boolean } = {}): Promise<string[]> {
  const p = clusterPaths(opts.name);
  const state = await readState(p);
  const stopped: string[] = [];
  if (state) {
    for (const c of COMPONENTS) if (state.pids[c] !== undefined && isOurs(state.pids[c], join(state.binDir, c))) stopped.push(`${c} (pid ${state.pids[c]})`);
    stopped.push(...(await stopState(state, undefined, p.root)));
    await rm(p.state, { force: true });
  } else if (existsSync(nodePaths(p.root).journal)) {
    stopped.push(...(await stopNode(p.root, undefined)));
  }
  await rm(p.data, { recursive: true, force: true });
  if (opts.purge) await purgeClusterFiles(p);
  return stopped;
}

/**
 * Removes what belongs to this cluster and nothing else. A named cluster owns its directory; the
 * default one lives in `.localcluster/` itself, next to the named clusters' directories, so it
 * removes only its own files there (a named cluster's processes would otherwise run on untracked).
 */
export async function purgeClusterFiles(p: ClusterPaths): Promise<void> {
  if (basename(p.root) !== '.localcluster') {
    await rm(p.root, { recursive: true, force: true });
    return;
  }
  const own = [p.pki, p.data, p.logs, p.kubeconfig, p.state, p.tokens, join(p.root, 'audit-policy.yaml'), nodePaths(p.root).dir];
  for (const path of own) await rm(path, { recursive: true, force: true });
}

export interface Status {
  running: boolean;
  components: { name: Component | NodeComponent; pid?: number; alive: boolean }[];
  server?: string;
  ready: boolean;
  kubeconfig: string;
  /** The real node, when the cluster has one: its name and Ready condition as the API server sees it. */
  node?: { name: string; ready: boolean; podResourcesSocket: string };
}

export async function status(opts: { name?: string } = {}): Promise<Status> {
  const p = clusterPaths(opts.name);
  const state = await readState(p);
  if (!state) return { running: false, components: COMPONENTS.map((name) => ({ name, alive: false })), ready: false, kubeconfig: p.kubeconfig };
  const alive = new Set(aliveComponents(state));
  const server = serverOf(state);
  const pki = await ensurePki(p.pki);
  const ready = alive.has('kube-apiserver') && (await probe(`${server}/readyz`, pki)) === 200;
  const components: Status['components'] = COMPONENTS.map((name) => ({ name, pid: state.pids[name], alive: alive.has(name) }));
  let node: Status['node'];
  if (state.node) {
    const aliveNode = new Set(aliveNodeComponents(state.node));
    components.push(...NODE_COMPONENTS.map((name) => ({ name, pid: state.node!.pids[name], alive: aliveNode.has(name) })));
    const obj = ready ? (await getJson<NodeObject>(server, `/api/v1/nodes/${state.node.name}`, pki)).body : undefined;
    node = { name: state.node.name, ready: nodeReady(obj), podResourcesSocket: nodePaths(p.root).kubelet.podResourcesSocket };
  }
  return { running: alive.size > 0, components, server, ready, kubeconfig: p.kubeconfig, node };
}

export type RestartableComponent = Component;

export interface ComponentOptions {
  name?: string;
  /** How long a stop waits after SIGTERM before SIGKILL (default 10 s; 0 = a crash). */
  graceMs?: number;
}

async function runningState(p: ClusterPaths, component: Component): Promise<State> {
  const state = await readState(p);
  if (!state) throw new ClusterError(`no local cluster in ${p.root}`, 'start it with `npm run cluster:up` first');
  if (!COMPONENTS.includes(component)) throw new ClusterError(`unknown component ${JSON.stringify(component)}`, `use one of ${COMPONENTS.join(', ')}`);
  return state;
}

/**
 * Stops one component of a running cluster (SIGTERM, then SIGKILL after the grace period), leaving
 * its ports and data in place so `startComponent` brings back the same cluster. For fault tests.
 */
export async function stopComponent(component: Component, opts: ComponentOptions = {}): Promise<void> {
  const p = clusterPaths(opts.name);
  const state = await runningState(p, component);
  const pid = state.pids[component];
  if (pid !== undefined) await stopProcess(pid, join(state.binDir, component), opts.graceMs);
  delete state.pids[component];
  await writeFile(p.state, JSON.stringify(state, null, 2));
}

/** Starts a stopped component on the cluster's recorded ports and data; resolves once it is ready. */
export async function startComponent(component: Component, opts: ComponentOptions = {}): Promise<void> {
  const p = clusterPaths(opts.name);
  const state = await runningState(p, component);
  const pid = state.pids[component];
  if (pid !== undefined && isOurs(pid, join(state.binDir, component))) return;
  const pki = await ensurePki(p.pki);
  const server = serverOf(state);
  const start = { etcd: () => startEtcd(p, state), 'kube-apiserver': () => startApiserver(p, pki, state, server), 'kube-controller-manager': () => startKcm(p, pki, state, server) };
  try {
    await start[component]();
  } finally {
    await writeFile(p.state, JSON.stringify(state, null, 2));
  }
}

/** Stops and starts one component (same ports, same data); `downMs` keeps it down that long. */
export async function restartComponent(component: Component, opts: ComponentOptions & { downMs?: number } = {}): Promise<void> {
  await stopComponent(component, opts);
  if (opts.downMs) await sleep(opts.downMs);
  await startComponent(component, opts);
}

/** Stops the real node's kube-proxy and removes its rules (fault and network-safety tests). */
export async function stopNodeKubeProxy(opts: { name?: string } = {}): Promise<void> {
  const p = clusterPaths(opts.name);
  const state = await readState(p);
  if (!state?.node) throw new ClusterError(`the local cluster in ${p.root} has no real node`, 'start it with `--nodes 1`');
  await stopKubeProxy(state.node);
  await writeFile(p.state, JSON.stringify(state, null, 2));
}

/** Starts the real node's kube-proxy again; resolves once it has programmed its rules. */
export async function startNodeKubeProxy(opts: { name?: string } = {}): Promise<void> {
  const p = clusterPaths(opts.name);
  const state = await readState(p);
  if (!state?.node) throw new ClusterError(`the local cluster in ${p.root} has no real node`, 'start it with `--nodes 1`');
  const save = () => writeFileSync(p.state, JSON.stringify(state, null, 2));
  await restartKubeProxy({ paths: p, pki: await ensurePki(p.pki), server: serverOf(state), node: state.node, save, log: () => undefined });
  save();
}
