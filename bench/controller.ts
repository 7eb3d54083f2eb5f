// Controller suite: the real controller (`mdev-operator controller`, a child process so its RSS is
// its own) on the local control plane, over a synthetic fleet of N nodes × 8 devices carrying 20
// distinct NVIDIA-style version strings. Nodes, agent Leases, MdevDevices and VMIs are created
// directly through the API (scale without N agent processes); probes are answered in this process
// by the REAL probe responder (src/agent/probe-responder.ts) of each node, testing with the
// simulated NVIDIA driver policy. Figures are plain numbers; the harness formats and judges them.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { KubeConfig } from '../src/kube/kubeconfig.ts';
import { AgentMetrics } from '../src/agent/agent-metrics.ts';
import type { ProbeInventory } from '../src/agent/probe-plan.ts';
import { ProbeResponder } from '../src/agent/probe-responder.ts';
import { API_VERSION, deviceObjectName, FIELD_MANAGER_AGENT, LABEL_NODE, LABEL_TYPE, LABEL_VERSION_HASH, parseFromWire, versionHash, type MdevMigration, type MdevProbe } from '../src/api/v1alpha1/index.ts';
import type { CompatBackend } from '../src/compat/backend.ts';
import { nvidiaBranch } from '../dev/fakes/policies/nvidia-branch.ts';
import { isRefusal, type NvidiaBranchConfig, type ParentConfig } from '../dev/fakes/policies/policy.ts';
import { buildSnapshot, toSourceVm } from '../src/controller/snapshot.ts';
import { LEASES, MDEV_DEVICES, MDEV_MIGRATIONS, MDEV_PROBES, NODES, VMIS } from '../src/controller/resources.ts';
import { mergePatch } from '../src/kube/apply.ts';
import { informerFor } from '../src/kube/informer.ts';
import { toMicroTime } from '../src/kube/lease-store.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { resourcePath } from '../src/kube/resource.ts';
import { patchVmiStatus } from '../src/kubevirt/client.ts';
import { LABEL_SCHEDULABLE } from '../src/kubevirt/target-constraints.ts';
import { parseVmi, type Vmi } from '../src/kubevirt/types.ts';
import { freePort } from '../dev/localcluster/processes.ts';
import { loggerFor } from '../src/observability/logger.ts';
import { buildClasses, exhaustiveProbeCount, filterCandidates, resolveSource } from '../src/placement/index.ts';
import { buildVmi } from '../dev/sim/kubevirt/vmi-factory.ts';
import { seededUuid } from '../dev/sim/fleet/profile.ts';
import type { DiscoveredDevice } from '../src/sysfs/inventory.ts';
import { USER_AGENTS } from '../src/kube/user-agent.ts';
import { auditWindows, type Window } from './audit-count.ts';
import { buildOnce, chartControllerCommand, spawnChartController } from './chart-controller.ts';
import { probeRoundTrips } from './probe-rtt.ts';
import { summarize } from './stats.ts';

export interface ControllerBenchOptions {
  kc: KubeConfig;
  /** The kubeconfig file of `kc`, for the controller child process (else `kc` is written to a temp file). */
  kubeconfigPath?: string;
  nodes: number;
  devicesPerNode?: number;
  /** Sequential dry-run decisions after the cold ones (default 200). */
  warmDecisions?: number;
  /**
   * Rounds of cold decisions (default 5). A decision is cold once per source string per controller
   * life, so each round after the first starts a new controller with every MdevProbe deleted.
   */
  coldRounds?: number;
  /** Decisions of the null controller (the floor), half before the controller's first life and half after its last (default 200). */
  nullDecisions?: number;
  /** Probe round trips measured against the fleet's responders (default 100). */
  probeRoundTrips?: number;
  /** kube-apiserver's audit log, to count the controller's own requests per decision (absent: not counted). */
  auditLog?: string;
  log?: (line: string) => void;
}

export interface ControllerBenchFigures {
  nodes: number;
  decisions: number;
  probesMedian: number;
  probesP99: number;
  exhaustiveProbesMedian: number;
  classesMedian: number;
  /** Decisions whose probes exceeded distinct classes + 1 (target: 0). */
  decisionsOverProbeBudget: number;
  coldMedianMs: number;
  coldP99Ms: number;
  coldSamples: number;
  warmSamples: number;
  warmMedianMs: number;
  warmP99Ms: number;
  concurrent100Ms: number;
  /** The null controller answering 100 dry runs created at once (the floor of concurrent100Ms), same run. */
  nullConcurrent100Ms: number;
  rssMiB: number;
  /** The same process after every decision above: what the young/old generation settle at under load. */
  rssAfterDecisionsMiB: number;
  setupSeconds: number;
  /** The controller's own decision time (status.decisionMillis), without API writes and watch latency. */
  warmDecisionMillisMedian: number;
  concurrentDecisionMillisMedian: number;
  /** The null controller's created → Planned (the floor), same cluster, fleet and run. */
  nullMedianMs: number;
  nullP99Ms: number;
  nullSamples: number;
  /** MdevProbe created → verdict seen, against the fleet's responders, same run. */
  probeRttMedianMs: number;
  probeRttP99Ms: number;
  probeRttSamples: number;
  /** The targets of issue 16, computed from the floors above. */
  warmTargetMs: number;
  coldTargetMs: number;
  /** The controller's own requests per decision (audit log, by User-Agent): writes and non-watch reads. */
  coldWritesPerDecision?: number;
  coldReadsPerDecision?: number;
  warmWritesPerDecision?: number;
  warmReadsPerDecision?: number;
  /** LIST calls by the controller during the warm decisions (target 0: none per decision). */
  warmListCalls?: number;
}

const TYPE_ID = 'nvidia-1012';
const PARENT = '0000:41:00.0';
const BOARD = 'H100-PCIE-80GB';
/** 20 host drivers on two branches: within a branch a newer target accepts an older source. */
const HOST_DRIVERS = [...Array.from({ length: 10 }, (_, i) => `550.${10 + i * 5}.01`), ...Array.from({ length: 10 }, (_, i) => `535.${10 + i * 5}.01`)];
const log0 = loggerFor('bench-controller');
const SETTLE_MS = 3_000;

function parentConfig(node: number): ParentConfig<NvidiaBranchConfig> {
  return { address: PARENT, vendorId: '10de', deviceId: '2331', driver: 'nvidia', policy: { name: 'nvidia-branch', board: BOARD, hostDriver: HOST_DRIVERS[node % HOST_DRIVERS.length] as string, vgpuVersion: 0x12, vgpuRange: [0x10, 0x13] } };
}

function versionOf(node: number): string {
  const v = nvidiaBranch.version(parentConfig(node), TYPE_ID, []);
  if (isRefusal(v)) throw new Error(`simulated NVIDIA policy refused to give a version: ${v.reason}`);
  return v;
}

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: Math.min(width, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : Number.NaN;
}

export interface Fleet {
  run: string;
  ns: string;
  nodeNames: string[];
  /** Per node: its devices as the responder's inventory sees them. */
  inventories: Map<string, ProbeInventory>;
  /** By device id: the node index (its version). */
  nodeOfDevice: Map<string, number>;
  sources: Vmi[];
}

export async function benchController(opts: ControllerBenchOptions): Promise<ControllerBenchFigures> {
  const { kc, nodes } = opts;
  const say = opts.log ?? ((l: string) => process.stderr.write(`[bench controller] ${l}\n`));
  const run = `b${nodes}-${Math.random().toString(16).slice(2, 8)}`;
  const t0 = performance.now();
  const fleet = await createFleet(kc, run, nodes, opts.devicesPerNode ?? 8, say);
  const setupSeconds = (performance.now() - t0) / 1000;
  say(`fleet of ${nodes} nodes created in ${round(setupSeconds)} s`);
  try {
    return { ...(await measureController(opts, fleet, say)), setupSeconds: round(setupSeconds) };
  } finally {
    await cleanup(kc, fleet, say);
  }
}

/**
 * One controller process against an existing fleet: the floors first (probe round trip, null
 * controller), RSS after sync, the timed decisions, then the null controller again.
 */
export async function measureController(opts: ControllerBenchOptions, fleet: Fleet, say: (l: string) => void): Promise<Omit<ControllerBenchFigures, 'setupSeconds'>> {
  const { kc, nodes } = opts;
  const responders = startResponders(kc, fleet);
  await buildOnce(say);
  const kubeconfig = opts.kubeconfigPath ?? kcPath(kc);
  let controller: ChildProcess | undefined;
  const healthPort = await freePort();
  const startController = async (): Promise<ChildProcess> => {
    const child = spawnChartController({ kubeconfig, namespace: fleet.ns, healthPort });
    controller = child;
    await waitReady(healthPort, child);
    // Cold means "nothing cached for this source string", not "the API server is still serving
    // the new controller's initial lists": let that settle as it would between drains.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    return child;
  };
  const timer = migrationTimer(kc, fleet.ns);
  let seq = 0;
  // Names unique per call, so one fleet (namespace) can be measured more than once.
  const tag = Math.random().toString(36).slice(2, 6);
  /** 100 dry runs created at once, timed until the last is seen Planned (the controller's, or the null controller's floor). */
  const concurrent100 = async (prefix: string): Promise<{ ms: number; decided: { ms: number; m: MdevMigration }[] }> => {
    const c0 = performance.now();
    const decided = await Promise.all(Array.from({ length: 100 }, (_, i) => timer.decide(`${prefix}-${tag}-${seq}-${i}`, (fleet.sources[i % fleet.sources.length] as Vmi).metadata.name)));
    seq++;
    return { ms: performance.now() - c0, decided };
  };
  const nullBlock = async (n: number, withConcurrent = false): Promise<{ samples: number[]; concurrentMs?: number }> => {
    const child = spawnNullController(kubeconfig, fleet.ns, healthPort);
    try {
      await waitReady(healthPort, child, 60_000, '/');
      await new Promise((r) => setTimeout(r, 1000));
      const samples: number[] = [];
      for (let i = 0; i < n; i++) samples.push((await timer.decide(`null-${tag}-${seq++}`, (fleet.sources[i % fleet.sources.length] as Vmi).metadata.name)).ms);
      return withConcurrent ? { samples, concurrentMs: (await concurrent100('null-conc')).ms } : { samples };
    } finally {
      await stopController(child);
    }
  };
  const audit = opts.auditLog ? auditWindows(opts.auditLog) : undefined;
  try {
    const rttNode = fleet.nodeNames.at(-1) as string;
    const rttDevice = [...(fleet.inventories.get(rttNode)?.devices.keys() ?? [])][0] as string;
    const rtt = summarize(await probeRoundTrips(kc, { node: rttNode, device: rttDevice, typeId: TYPE_ID, sourceVersion: 'bench-probe-rtt', count: opts.probeRoundTrips ?? 100 }));
    await deleteProbes(kc, fleet);
    say(`probe round trip median ${round(rtt.median)} ms, p99 ${round(rtt.p99)} ms (${rtt.n})`);
    await timer.start();
    const nullHalf = Math.ceil((opts.nullDecisions ?? 200) / 2);
    const nullSamples = (await nullBlock(nullHalf)).samples;
    controller = await startController();
    const rss = rssMiB(controller.pid as number);
    say(`controller synced, RSS ${rss} MiB`);
    const results: { ms: number; m: MdevMigration; cold: boolean }[] = [];
    const rounds = opts.coldRounds ?? 5;
    const coldWindows: Window[] = [];
    for (let r = 0; r < rounds; r++) {
      if (r > 0) {
        await stopController(controller);
        await deleteProbes(kc, fleet);
        controller = await startController();
      }
      // Cold: the first decision for each source string (nothing cached for it yet).
      const from = Date.now();
      for (const vmi of fleet.sources) results.push({ ...(await timer.decide(`cold-${tag}-${seq++}`, vmi.metadata.name)), cold: true });
      coldWindows.push({ from, to: Date.now() });
    }
    say(`${results.length} cold decisions in ${rounds} controller lives`);
    const warm = opts.warmDecisions ?? 200;
    const warmFrom = Date.now();
    for (let i = 0; i < warm; i++) {
      const vmi = fleet.sources[i % fleet.sources.length] as Vmi;
      results.push({ ...(await timer.decide(`warm-${tag}-${seq++}`, vmi.metadata.name)), cold: false });
    }
    const warmWindow: Window = { from: warmFrom, to: Date.now() };
    const { ms: concurrent100Ms, decided: concurrent } = await concurrent100('conc');
    const rssAfter = rssMiB(controller.pid as number);
    say(`decisions done, controller RSS ${rssAfter} MiB`);
    await stopController(controller);
    const nullAfter = await nullBlock(nullHalf, true);
    nullSamples.push(...nullAfter.samples);
    const nullS = summarize(nullSamples);
    const cost = audit ? await audit.perWindow(USER_AGENTS.controller, { cold: coldWindows, warm: [warmWindow] }) : undefined;
    say('computing the exhaustive baseline');
    const all = [...results.map((r) => r.m), ...concurrent.map((r) => r.m)];
    const baseline = baselineFor(kc, fleet);
    const perDecision = await Promise.all(all.map(async (m) => ({ probes: m.status?.probes ?? 0, ...(await baseline(m.spec.vmiName)) })));
    const probes = summarize(perDecision.map((d) => d.probes));
    const cold = summarize(results.filter((r) => r.cold).map((r) => r.ms));
    const warmS = summarize(results.filter((r) => !r.cold).map((r) => r.ms));
    return {
      nodes,
      decisions: perDecision.length,
      probesMedian: probes.median,
      probesP99: probes.p99,
      exhaustiveProbesMedian: summarize(perDecision.map((d) => d.exhaustive)).median,
      classesMedian: summarize(perDecision.map((d) => d.classes)).median,
      decisionsOverProbeBudget: perDecision.filter((d) => d.probes > d.classes + 1).length,
      coldMedianMs: round(cold.median),
      coldP99Ms: round(cold.p99),
      coldSamples: cold.n,
      warmSamples: warmS.n,
      warmMedianMs: round(warmS.median),
      warmP99Ms: round(warmS.p99),
      concurrent100Ms: round(concurrent100Ms),
      nullConcurrent100Ms: round(nullAfter.concurrentMs ?? Number.NaN),
      rssMiB: rss,
      rssAfterDecisionsMiB: rssAfter,
      warmDecisionMillisMedian: summarize(results.filter((r) => !r.cold).map((r) => r.m.status?.decisionMillis ?? 0)).median,
      concurrentDecisionMillisMedian: summarize(concurrent.map((r) => r.m.status?.decisionMillis ?? 0)).median,
      nullMedianMs: round(nullS.median),
      nullP99Ms: round(nullS.p99),
      nullSamples: nullS.n,
      probeRttMedianMs: round(rtt.median),
      probeRttP99Ms: round(rtt.p99),
      probeRttSamples: rtt.n,
      warmTargetMs: round(nullS.p99 + 5),
      coldTargetMs: round(nullS.p99 + rtt.p99 + 10),
      ...(cost
        ? {
            coldWritesPerDecision: round(cost.cold.writes / cold.n),
            coldReadsPerDecision: round(cost.cold.reads / cold.n),
            warmWritesPerDecision: round(cost.warm.writes / warmS.n),
            warmReadsPerDecision: round(cost.warm.reads / warmS.n),
            warmListCalls: cost.warm.lists,
          }
        : {}),
    };
  } finally {
    if (controller) await stopController(controller);
    await timer.stop();
    await responders.stop();
  }
}

async function stopController(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Deletes the fleet's MdevProbes, so a new controller finds no earlier answer to reuse. */
async function deleteProbes(kc: KubeConfig, fleet: Fleet): Promise<void> {
  const nodes = new Set(fleet.nodeNames);
  const list = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_PROBES) })) as { items: { metadata: { name: string }; spec?: { nodeName?: string } }[] };
  const mine = list.items.filter((p) => nodes.has(p.spec?.nodeName ?? '')).map((p) => p.metadata.name);
  await pool(mine, 16, (name) => kubeRequest(kc, { method: 'DELETE', path: resourcePath(MDEV_PROBES, { name }) }).catch(() => undefined));
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

// ---------------------------------------------------------------------------------------------
// Fleet through the API
// ---------------------------------------------------------------------------------------------

/** A Node as KubeVirt's node labeller leaves it: placement excludes a node without virt-handler's label. */
function kubevirtNodeLabels(name: string): Record<string, string> {
  return { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', [LABEL_SCHEDULABLE]: 'true' };
}

export async function createFleet(kc: KubeConfig, run: string, nodes: number, perNode: number, say: (l: string) => void): Promise<Fleet> {
  const ns = run;
  await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  const nodeNames = Array.from({ length: nodes }, (_, i) => `${run}-n${String(i).padStart(4, '0')}`);
  const runLabel = { 'mdev-operator.io/bench-run': run };
  const renew = toMicroTime(Date.now());
  say(`creating ${nodes} Nodes and agent Leases`);
  await pool(nodeNames, 24, async (name) => {
    await kubeRequest(kc, { method: 'POST', path: resourcePath(NODES), body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { ...runLabel, ...kubevirtNodeLabels(name) } }, spec: {} } });
    await mergePatch(kc, NODES, { name }, { spec: { taints: [] } });
    await kubeRequest(kc, {
      method: 'POST',
      path: resourcePath(LEASES, { namespace: ns }),
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `mdev-agent.${name}`, namespace: ns }, spec: { holderIdentity: name, leaseDurationSeconds: 3600, renewTime: renew } },
    });
  });
  const inventories = new Map<string, ProbeInventory>();
  const nodeOfDevice = new Map<string, number>();
  const devices: { node: number; name: string; id: string }[] = [];
  nodeNames.forEach((node, n) => {
    const map = new Map<string, { device: DiscoveredDevice; free: boolean }>();
    for (let d = 0; d < perNode; d++) {
      const id = seededUuid(`${run}/${n}/${d}`);
      const name = deviceObjectName(node, id);
      devices.push({ node: n, name, id });
      nodeOfDevice.set(id, n);
      map.set(name, { device: { kind: 'mdev', id, parent: { address: PARENT, vendorId: '10de', deviceId: '2331', driver: 'nvidia' }, type: { id: TYPE_ID }, creationParams: [], attrPath: `/sim/${id}/migration_version`, sysfsPath: `/sim/${id}` }, free: true });
    }
    inventories.set(node, { nodeName: node, devices: map, capacity: [] });
  });
  say(`creating ${devices.length} MdevDevices`);
  await pool(devices, 32, async (d) => {
    const node = nodeNames[d.node] as string;
    const version = versionOf(d.node);
    await kubeRequest(kc, {
      method: 'POST',
      path: resourcePath(MDEV_DEVICES),
      body: {
        apiVersion: API_VERSION,
        kind: 'MdevDevice',
        metadata: { name: d.name, labels: { ...runLabel, [LABEL_NODE]: node, [LABEL_TYPE]: TYPE_ID, [LABEL_VERSION_HASH]: versionHash(version) } },
        spec: { nodeName: node, id: d.id, kind: 'mdev', type: { id: TYPE_ID, name: 'GRID H100-4C', deviceApi: 'vfio-pci' }, parent: { address: PARENT, vendorId: '10de', deviceId: '2331', driver: 'nvidia' } },
      },
    });
    await mergePatch(kc, MDEV_DEVICES, { name: d.name }, { status: { migrationVersion: version, migratable: true, backend: 'simulated' } }, { subresource: 'status', fieldManager: FIELD_MANAGER_AGENT });
  });
  // One source VMI per version string, on the first node carrying it, using that node's first device.
  say('creating source VMIs');
  const sources: Vmi[] = [];
  for (let n = 0; n < Math.min(HOST_DRIVERS.length, nodes); n++) {
    const node = nodeNames[n] as string;
    const name = `src-${n}`;
    const created = parseVmi(await kubeRequest(kc, { method: 'POST', path: resourcePath(VMIS, { namespace: ns }), body: buildVmi({ namespace: ns, name, nodeName: node }) }));
    if (!created) throw new Error(`VMI ${ns}/${name} came back malformed: are the KubeVirt stand-in CRDs installed?`);
    const vmi = await patchVmiStatus(kc, { namespace: ns, name }, { phase: 'Running', nodeName: node });
    const dev = devices.find((d) => d.node === n) as { name: string };
    await mergePatch(kc, MDEV_DEVICES, { name: dev.name }, { status: { consumer: { kind: 'VirtualMachineInstance', namespace: ns, name, uid: created.metadata.uid } } }, { subresource: 'status', fieldManager: FIELD_MANAGER_AGENT });
    const inv = inventories.get(node)?.devices.get(dev.name);
    if (inv) inv.free = false;
    sources.push(vmi ?? created);
  }
  return { run, ns, nodeNames, inventories, nodeOfDevice, sources };
}

export async function cleanup(kc: KubeConfig, fleet: Fleet, say: (l: string) => void): Promise<void> {
  say('cleaning up');
  const selector = `mdev-operator.io/bench-run=${fleet.run}`;
  const quiet = (p: Promise<unknown>) => p.catch(() => undefined);
  await quiet(kubeRequest(kc, { method: 'DELETE', path: resourcePath(MDEV_MIGRATIONS, { namespace: fleet.ns }) }));
  await quiet(kubeRequest(kc, { method: 'DELETE', path: resourcePath(MDEV_DEVICES), query: { labelSelector: selector } }));
  await quiet(kubeRequest(kc, { method: 'DELETE', path: resourcePath(NODES), query: { labelSelector: selector } }));
  const probes = fleet.nodeNames.map((n) => `${LABEL_NODE}=${n}`);
  await pool(probes, 16, (sel) => quiet(kubeRequest(kc, { method: 'DELETE', path: resourcePath(MDEV_PROBES), query: { labelSelector: sel } })));
  await quiet(kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${fleet.ns}` }));
}

// ---------------------------------------------------------------------------------------------
// Probe answering: the real responder per node, with the simulated NVIDIA driver as backend
// ---------------------------------------------------------------------------------------------

function startResponders(kc: KubeConfig, fleet: Fleet): { stop(): Promise<void> } {
  const metrics = new AgentMetrics(new Registry());
  const responders = new Map<string, ProbeResponder>();
  const nodeIndex = new Map(fleet.nodeNames.map((n, i) => [n, i]));
  const backend = (node: number): CompatBackend => ({
    name: 'simulated',
    async readVersion() {
      return { migratable: true, version: versionOf(node) };
    },
    async test(_subject, source) {
      const verdict = nvidiaBranch.accept({ parent: parentConfig(node), typeId: TYPE_ID, creationParams: [] }, source);
      return 'ok' in verdict ? { accepted: true, reason: 'accepted' } : { accepted: false, errno: verdict.errno, reason: `${verdict.errno}: ${verdict.reason}` };
    },
  });
  const responderFor = (node: string): ProbeResponder | undefined => {
    const i = nodeIndex.get(node);
    if (i === undefined) return undefined;
    let r = responders.get(node);
    if (!r) {
      r = new ProbeResponder({
        nodeName: node,
        backend: backend(i),
        inventory: () => fleet.inventories.get(node),
        writeStatus: async (name, status) => {
          await mergePatch(kc, MDEV_PROBES, { name }, { status }, { subresource: 'status', fieldManager: FIELD_MANAGER_AGENT });
        },
        rediscover: async () => undefined,
        metrics,
        log: log0,
      });
      responders.set(node, r);
    }
    return r;
  };
  const informer = informerFor<MdevProbe>(kc, { resource: MDEV_PROBES, name: 'bench-responders', parse: (o) => parseFromWire('MdevProbe', o, log0) });
  const dispatch = (p: MdevProbe): void => responderFor(p.spec.nodeName)?.enqueue(p);
  informer.addHandlers({ add: dispatch, update: (_o, p) => dispatch(p) });
  informer.start();
  return {
    async stop() {
      await informer.stop();
      await Promise.all([...responders.values()].map((r) => r.stop()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The controller under test, and the clock around it
// ---------------------------------------------------------------------------------------------

/** The null controller (bench/null-controller.ts) with the chart's NODE_OPTIONS, as the controller gets them. */
function spawnNullController(kubeconfig: string, ns: string, healthPort: number): ChildProcess {
  const { env } = chartControllerCommand({ kubeconfig, namespace: ns, healthPort });
  const script = new URL('./null-controller.ts', import.meta.url).pathname;
  return spawn(process.execPath, [script, '--kubeconfig', kubeconfig, '--namespace', ns, '--health-port', String(healthPort)], { stdio: ['ignore', 'ignore', 'inherit'], env });
}

/** The harness hands over a KubeConfig object (client-node's); the child process needs a file (JSON is valid YAML). */
function kcPath(kc: KubeConfig): string {
  const exportable = kc as Partial<{ exportConfig(): string }>;
  if (!exportable.exportConfig) throw new Error('bench controller: pass kubeconfigPath, this KubeConfig cannot be written to a file');
  const path = join(tmpdir(), `mdev-bench-kubeconfig-${process.pid}.yaml`);
  writeFileSync(path, exportable.exportConfig(), { mode: 0o600 });
  return path;
}

async function waitReady(port: number, child: ChildProcess, timeoutMs = 300_000, path = '/readyz'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the controller exited with status ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the controller was not ready within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Creates dry-run MdevMigrations and times created → Planned through a watch. */
function migrationTimer(kc: KubeConfig, ns: string) {
  const waiters = new Map<string, (m: MdevMigration) => void>();
  const informer = informerFor<MdevMigration>(kc, { resource: MDEV_MIGRATIONS, namespace: ns, name: 'bench-migrations', parse: (o) => parseFromWire('MdevMigration', o, log0) });
  const seen = (m: MdevMigration): void => {
    const phase = m.status?.phase;
    if (phase === 'Planned' || phase === 'Failed') waiters.get(m.metadata.name)?.(m);
  };
  informer.addHandlers({ add: seen, update: (_o, m) => seen(m) });
  return {
    async start() {
      informer.start();
      await informer.waitForSync();
    },
    stop: () => informer.stop(),
    async decide(name: string, vmiName: string): Promise<{ ms: number; m: MdevMigration }> {
      const done = new Promise<MdevMigration>((resolve) => waiters.set(name, resolve));
      const start = performance.now();
      await kubeRequest(kc, {
        method: 'POST',
        path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }),
        body: { apiVersion: API_VERSION, kind: 'MdevMigration', metadata: { name, namespace: ns }, spec: { vmiName, dryRun: true } },
      });
      const m = await Promise.race([done, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`MdevMigration ${ns}/${name} was not decided within 120s`)), 120_000))]);
      const ms = performance.now() - start;
      waiters.delete(name);
      if (m.status?.phase !== 'Planned') throw new Error(`MdevMigration ${ns}/${name} failed: ${m.status?.message}`);
      return { ms, m };
    },
  };
}

/** Classes and the exhaustive probe count of a decision, from the engine on a fresh snapshot. */
function baselineFor(kc: KubeConfig, fleet: Fleet) {
  let cached: Promise<Map<string, { classes: number; exhaustive: number }>> | undefined;
  const compute = async () => {
    const list = async (path: string) => ((await kubeRequest(kc, { method: 'GET', path })) as { items: unknown[] }).items;
    const devices = (await list(resourcePath(MDEV_DEVICES))).flatMap((o) => parseFromWire('MdevDevice', { apiVersion: API_VERSION, kind: 'MdevDevice', ...(o as object) }, log0) ?? []);
    const nodes = fleet.nodeNames.map((name) => ({ name, labels: kubevirtNodeLabels(name), unschedulable: false, taints: [] }));
    const leases = fleet.nodeNames.map((n) => ({ name: `mdev-agent.${n}`, nodeName: n, holderIdentity: n, leaseDurationSeconds: 3600, renewTime: new Date().toISOString() }));
    const snap = buildSnapshot({ nodes, leases, devices, mdevNodes: [] }, { now: Date.now() });
    const out = new Map<string, { classes: number; exhaustive: number }>();
    for (const vmi of fleet.sources) {
      const src = resolveSource(toSourceVm(vmi), snap.devices);
      if (!src.ok) continue;
      const filter = filterCandidates(src.source, snap.fleet, { migrationUid: 'bench', allowCreateTarget: false });
      out.set(vmi.metadata.name, { classes: buildClasses(filter.candidates).length, exhaustive: exhaustiveProbeCount(src.source, filter) });
    }
    return out;
  };
  return async (vmiName: string) => {
    cached ??= compute();
    return (await cached).get(vmiName) ?? { classes: Number.NaN, exhaustive: Number.NaN };
  };
}
