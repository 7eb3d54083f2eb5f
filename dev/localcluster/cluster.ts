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
import { ensurePki, type Pki } from './pki.ts';
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
  /** The audit log kube-apiserver writes, when started with `audit`. */
  auditLog?: string;
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

function kubeconfigYaml(server: string, pki: Pki): string {
  const b64 = (f: string) => Buffer.from(readFileSyncCached(f)).toString('base64');
  return [
    'apiVersion: v1', 'kind: Config', 'clusters:', '- name: local', '  cluster:', `    server: ${server}`,
    `    certificate-authority-data: ${b64(pki.ca)}`, 'users:', '- name: admin', '  user:',
    `    client-certificate-data: ${b64(pki.adminCert)}`, `    client-key-data: ${b64(pki.adminKey)}`,
    'contexts:', '- name: local', '  context: {cluster: local, user: admin}', 'current-context: local', '',
  ].join('\n');
}

/** Returns the running cluster if it is healthy; stops and clears a stale one. */
async function reuseOrClear(p: ClusterPaths, log: (l: string) => void): Promise<LocalCluster | undefined> {
  const state = await readState(p);
  if (!state) return undefined;
  const alive = aliveComponents(state);
  const server = `https://127.0.0.1:${state.ports.apiserver}`;
  if (alive.length === COMPONENTS.length && existsSync(p.kubeconfig)) {
    const pki = await ensurePki(p.pki);
    if ((await probe(`${server}/readyz`, pki)) === 200) {
      return { name: p.root, kubeconfig: p.kubeconfig, server, paths: p, pids: state.pids, ...(state.auditLog ? { auditLog: state.auditLog } : {}) };
    }
  }
  log(`[cluster] found a stale cluster in ${p.root} (running: ${alive.join(', ') || 'none'}); stopping it and starting fresh`);
  // Its data is discarded next, so a graceful shutdown buys nothing; kube-apiserver without
  // etcd would otherwise sit out the whole grace period.
  await stopState(state, 1_000);
  await rm(p.data, { recursive: true, force: true });
  await rm(p.state, { force: true });
  return undefined;
}

async function stopState(state: State, graceMs?: number): Promise<void> {
  for (const c of [...COMPONENTS].reverse()) {
    const pid = state.pids[c];
    if (pid !== undefined) await stopProcess(pid, join(state.binDir, c), graceMs);
  }
}

export async function up(opts: UpOptions = {}): Promise<LocalCluster> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const p = clusterPaths(opts.name);
  const existing = await reuseOrClear(p, log);
  if (existing) return existing;
  // Checked before anything is built or generated: a taken fixed port fails at once.
  if (opts.apiserverPort !== undefined && (await portInUse(opts.apiserverPort))) {
    throw new ClusterError(
      `port 127.0.0.1:${opts.apiserverPort} asked for kube-apiserver is already in use by another process`,
      `stop that process (\`ss -ltnp 'sport = :${opts.apiserverPort}'\` names it) or leave the port unset so a free one is chosen`,
    );
  }

  const binDir = await ensureBinaries(log);
  await mkdir(p.logs, { recursive: true });
  await mkdir(p.data, { recursive: true });
  const pki = await ensurePki(p.pki);
  const ports = { etcdClient: await freePort(), etcdPeer: await freePort(), apiserver: opts.apiserverPort ?? (await freePort()) };
  const state: State = { pids: {}, ports, binDir, startedAt: new Date().toISOString(), ...(opts.audit ? { auditLog: join(p.logs, 'audit.log') } : {}) };
  const server = `https://127.0.0.1:${ports.apiserver}`;
  try {
    await startEtcd(p, state);
    await startApiserver(p, pki, state, server);
    await writeFile(p.kubeconfig, kubeconfigYaml(server, pki), { mode: 0o600 });
    await startKcm(p, pki, state, server);
  } catch (err) {
    await stopState(state);
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
    '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${state.ports.apiserver}`,
    `--cert-dir=${p.pki}`, `--tls-cert-file=${pki.serverCert}`, `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.ca}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
    '--authorization-mode=Node,RBAC', '--service-cluster-ip-range=10.0.0.0/24', '--allow-privileged=true',
    '--enable-priority-and-fairness=false', '--max-requests-inflight=1600', '--max-mutating-requests-inflight=800',
    '--endpoint-reconciler-type=none', '--v=1', ...audit,
  ], logFile, { ...process.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' });
  recordPid(p, state, 'kube-apiserver', pid);
  await waitFor('kube-apiserver', async () => (await probe(`${server}/readyz`, pki)) === 200, pid, p, 120_000);
}

async function startKcm(p: ClusterPaths, pki: Pki, state: State, server: string): Promise<void> {
  const bin = binaryPath('kube-controller-manager');
  const logFile = join(p.logs, 'kube-controller-manager.log');
  const pid = spawnDaemon(bin, [
    `--kubeconfig=${p.kubeconfig}`, '--leader-elect=false', '--secure-port=0',
    `--controllers=${KCM_CONTROLLERS.join(',')}`,
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
    await stopState(state);
    await rm(p.state, { force: true });
  }
  await rm(p.data, { recursive: true, force: true });
  if (opts.purge) await rm(p.root, { recursive: true, force: true });
  return stopped;
}

export interface Status {
  running: boolean;
  components: { name: Component; pid?: number; alive: boolean }[];
  server?: string;
  ready: boolean;
  kubeconfig: string;
}

export async function status(opts: { name?: string } = {}): Promise<Status> {
  const p = clusterPaths(opts.name);
  const state = await readState(p);
  if (!state) return { running: false, components: COMPONENTS.map((name) => ({ name, alive: false })), ready: false, kubeconfig: p.kubeconfig };
  const alive = new Set(aliveComponents(state));
  const server = `https://127.0.0.1:${state.ports.apiserver}`;
  const ready = alive.has('kube-apiserver') && (await probe(`${server}/readyz`, await ensurePki(p.pki))) === 200;
  return {
    running: alive.size > 0,
    components: COMPONENTS.map((name) => ({ name, pid: state.pids[name], alive: alive.has(name) })),
    server, ready, kubeconfig: p.kubeconfig,
  };
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
  const server = `https://127.0.0.1:${state.ports.apiserver}`;
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
