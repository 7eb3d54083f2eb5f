// Agent benchmark on a running local control plane (CRDs from crds/ installed): discovery +
// publish of 256 devices, MdevDevice writes at steady state, the probe round trip (MdevProbe
// created → verdict visible to a watcher), and a flood of 1,000 probes at once (time until every one
// is answered, and how much the heap of the process grows meanwhile). Returns plain numbers; the
// caller reports.
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { startAgent, MDEV_PROBE_RESOURCE } from '../src/agent/agent.ts';
import type { AgentConfig } from '../src/agent/config.ts';
import { deviceObjectName, LABEL_NODE, probeObjectName, type MdevProbe } from '../src/api/v1alpha1/index.ts';
import { SysfsBackend } from '../src/compat/sysfs-backend.ts';
import { informerFor } from '../src/kube/informer.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { FakeSysfs } from '../dev/fakes/sysfs/fake-sysfs.ts';
import { FakeTree } from '../dev/fakes/sysfs/fake-tree.ts';
import { percentile } from './stats.ts';

export interface AgentBenchOptions {
  kc: KubeConfig;
  /** Devices on the simulated node (default 256). */
  devices?: number;
  /** How long to watch the steady state (default 30 s), with a pass every `steadyPassMs` (default 1 s). */
  steadySeconds?: number;
  steadyPassMs?: number;
  /** Probes for the round trip (default 60, at least 50). */
  probes?: number;
  /** Probes created at once for the flood (default 1,000). */
  floodProbes?: number;
  namespace?: string;
}

export interface AgentBenchFigures {
  devices: number;
  /** Agent start to first pass published (informer syncs included), ms. */
  firstPublishMs: number;
  /** One discovery+publish pass with nothing changed, ms (median of 5). */
  steadyPassMs: number;
  steadyPasses: number;
  /** MdevDevice writes per minute during the steady window (goal 0). */
  deviceWritesPerMinute: number;
  probeRoundTripMedianMs: number;
  probeRoundTripP99Ms: number;
  probes: number;
  floodProbes: number;
  /** Flood: first create → every probe answered, seconds. */
  floodSeconds: number;
  /** Flood: peak heapUsed minus heapUsed before, MiB (this process holds the agent and the creator). */
  floodHeapGrowthMiB: number;
  floodPeakBacklog: number;
}

const TYPE = 'nvidia-1012';
const VERSION = 'nv1;board=H100;type=nvidia-1012;host=550.54.15;vgpu=0x12';

function tree256(count: number): FakeTree {
  const tree = FakeTree.create('bench-agent-');
  const perParent = 32;
  for (let p = 0; p * perParent < count; p++) {
    const parent = `0000:${(0x41 + p).toString(16).padStart(2, '0')}:00.0`;
    tree.addParent(parent, { vendorId: '10de', deviceId: '2331', driver: 'nvidia', policy: { name: 'nvidia-branch', board: 'H100', hostDriver: '550.54.15', vgpuVersion: 0x12, vgpuRange: [0x10, 0x13] } });
    tree.addType(parent, TYPE, { name: 'GRID H100-4C', deviceApi: 'vfio-pci', availableInstances: perParent });
    for (let i = 0; i < perParent && p * perParent + i < count; i++) tree.addMdev(randomUUID(), parent, TYPE);
  }
  return tree;
}

export async function benchAgent(opts: AgentBenchOptions): Promise<AgentBenchFigures> {
  const { kc } = opts;
  const count = opts.devices ?? 256;
  const node = `bench-agent-${randomUUID().slice(0, 8)}`;
  await kubeRequest(kc, { method: 'POST', path: '/api/v1/nodes', body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } });
  const tree = tree256(count);
  const io = new FakeSysfs(tree);
  const config: AgentConfig = {
    nodeName: node, sysfsRoot: tree.root, backend: 'simulated', namespace: opts.namespace ?? 'default',
    resyncIntervalMs: opts.steadyPassMs ?? 1000, leaseDurationMs: 40_000, leaseRenewMs: 10_000, metricsPort: 0, healthPort: 0, logLevel: 'error',
  };
  const t0 = performance.now();
  const agent = await startAgent(config, { kc, io, backend: new SysfsBackend(io, 'simulated'), registry: new Registry(), serveHttp: false });
  const firstPublishMs = performance.now() - t0;
  try {
    const passes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      await agent.rediscover();
      passes.push(performance.now() - s);
    }
    passes.sort((a, b) => a - b);

    const writesBefore = await agent.metrics.writeCount('MdevDevice');
    const passCount = async () => (await agent.metrics.discoverySeconds.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    const passesBefore = await passCount();
    const steadySeconds = opts.steadySeconds ?? 30;
    await new Promise((r) => setTimeout(r, steadySeconds * 1000));
    const deviceWrites = (await agent.metrics.writeCount('MdevDevice')) - writesBefore;
    const steadyPasses = (await passCount()) - passesBefore;

    const rtts = await probeRoundTrips(kc, node, deviceObjectName(node, tree.mdevs()[0] as string), Math.max(50, opts.probes ?? 60));
    rtts.sort((a, b) => a - b);
    const flood = await probeFlood(kc, node, deviceObjectName(node, tree.mdevs()[0] as string), () => agent.probeBacklog(), opts.floodProbes ?? 1000);
    return {
      devices: count,
      firstPublishMs: Math.round(firstPublishMs),
      steadyPassMs: Math.round(percentile(passes, 0.5)),
      steadyPasses,
      deviceWritesPerMinute: (deviceWrites * 60) / steadySeconds,
      probeRoundTripMedianMs: Math.round(percentile(rtts, 0.5) * 10) / 10,
      probeRoundTripP99Ms: Math.round(percentile(rtts, 0.99) * 10) / 10,
      probes: rtts.length,
      floodProbes: flood.probes,
      floodSeconds: Math.round(flood.seconds * 10) / 10,
      floodHeapGrowthMiB: Math.round(flood.heapGrowthMiB * 10) / 10,
      floodPeakBacklog: flood.peakBacklog,
    };
  } finally {
    await agent.stop();
    await kubeRequest(kc, { method: 'DELETE', path: '/apis/mdev-operator.io/v1alpha1/mdevprobes', query: { labelSelector: `${LABEL_NODE}=${node}` } }).catch(() => undefined);
    // The Node's deletion garbage-collects its MdevDevices and MdevNode (owner references).
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${node}` }).catch(() => undefined);
    tree.dispose();
  }
}

/** Creates probes one after another; each round trip ends when a watcher sees its verdict. */
async function probeRoundTrips(kc: KubeConfig, node: string, device: string, n: number): Promise<number[]> {
  const waiting = new Map<string, () => void>();
  const watcher = informerFor<MdevProbe>(kc, {
    resource: MDEV_PROBE_RESOURCE,
    name: 'bench-probe-watcher',
    labelSelector: `${LABEL_NODE}=${node}`,
    parse: (o) => o as MdevProbe,
  });
  const check = (p: MdevProbe): void => {
    if (p.status?.observedGeneration === p.metadata.generation && p.status?.results?.length) waiting.get(p.metadata.name)?.();
  };
  watcher.addHandlers({ add: check, update: (_o, p) => check(p) });
  watcher.start();
  await watcher.waitForSync();
  const rtts: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const source = `${VERSION};seq=${i}-${randomUUID().slice(0, 8)}`;
      const name = probeObjectName(node, TYPE, source);
      const seen = new Promise<void>((resolve) => waiting.set(name, resolve));
      const start = performance.now();
      await kubeRequest(kc, {
        method: 'POST',
        path: '/apis/mdev-operator.io/v1alpha1/mdevprobes',
        body: { apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevProbe', metadata: { name, labels: { [LABEL_NODE]: node } }, spec: { nodeName: node, typeId: TYPE, sourceVersion: source, devices: [device] } },
      });
      await seen;
      rtts.push(performance.now() - start);
      waiting.delete(name);
    }
  } finally {
    await watcher.stop();
  }
  return rtts;
}

/** 1,000 distinct probes of one device created by 16 concurrent writers; ends when a watcher saw every answer. */
async function probeFlood(kc: KubeConfig, node: string, device: string, backlog: () => number, total: number): Promise<{ probes: number; seconds: number; heapGrowthMiB: number; peakBacklog: number }> {
  const answered = new Set<string>();
  let target = Number.POSITIVE_INFINITY; // the round trips' probes are answered already
  let allAnswered!: () => void;
  const done = new Promise<void>((resolve) => (allAnswered = resolve));
  const watcher = informerFor<MdevProbe>(kc, { resource: MDEV_PROBE_RESOURCE, name: 'bench-probe-flood', labelSelector: `${LABEL_NODE}=${node}`, parse: (o) => o as MdevProbe });
  const check = (p: MdevProbe): void => {
    if (p.status?.observedGeneration === p.metadata.generation && p.status?.results) answered.add(p.metadata.name);
    if (answered.size >= target) allAnswered();
  };
  watcher.addHandlers({ add: check, update: (_o, p) => check(p) });
  watcher.start();
  await watcher.waitForSync();
  target = answered.size + total;
  const heapBefore = process.memoryUsage().heapUsed;
  let peakHeap = heapBefore;
  let peakBacklog = 0;
  // Sampling for the figure only; the end is the watcher's event, not a timer.
  const sampler = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    peakBacklog = Math.max(peakBacklog, backlog());
  }, 50);
  const start = performance.now();
  try {
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let i = next++; i < total; i = next++) {
        const source = `${VERSION};flood=${i}-${randomUUID().slice(0, 8)}`;
        await kubeRequest(kc, {
          method: 'POST',
          path: '/apis/mdev-operator.io/v1alpha1/mdevprobes',
          body: { apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevProbe', metadata: { name: probeObjectName(node, TYPE, source), labels: { [LABEL_NODE]: node } }, spec: { nodeName: node, typeId: TYPE, sourceVersion: source, devices: [device] } },
        });
      }
    }));
    if (answered.size < target) await done;
    return { probes: total, seconds: (performance.now() - start) / 1000, heapGrowthMiB: (peakHeap - heapBefore) / 2 ** 20, peakBacklog };
  } finally {
    clearInterval(sampler);
    await watcher.stop();
  }
}
