// Agent benchmark on a running local control plane (CRDs from crds/ installed): discovery +
// publish of 256 devices, MdevDevice writes at steady state, the probe round trip (MdevProbe
// created → verdict visible to a watcher), and a flood of 1,000 probes at once (time until every one
// is answered, and how much the heap of the process grows meanwhile). Returns plain numbers; the
// caller reports.
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '../src/kube/kubeconfig.ts';
import { Registry } from 'prom-client';
import { startAgent } from '../src/agent/agent.ts';
import type { AgentConfig } from '../src/agent/config.ts';
import { API_VERSION, deviceObjectName, FIELD_MANAGER_AGENT, LABEL_NODE, parseFromWire, type MdevDevice } from '../src/api/v1alpha1/index.ts';
import { DEFAULT_PUBLISH_CONCURRENCY, MDEV_DEVICE_RESOURCE } from '../src/agent/publisher.ts';
import { serverSideApply, type ApplyObject } from '../src/kube/apply.ts';
import { withUserAgent } from '../src/kube/user-agent.ts';
import { loggerFor } from '../src/observability/logger.ts';
import { STANDIN_USER_AGENTS } from '../dev/sim/user-agents.ts';
import { SysfsBackend } from '../src/compat/sysfs-backend.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { FakeSysfs } from '../dev/fakes/sysfs/fake-sysfs.ts';
import { FakeTree } from '../dev/fakes/sysfs/fake-tree.ts';
import { probeFlood } from './probe-flood.ts';
import { probeRoundTrips } from './probe-rtt.ts';
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
  /**
   * The floor of that, in the same run: the same server-side applies (spec, then status, of each of
   * the 256 MdevDevices, with the publisher's concurrency) by a bare client, for a second node.
   */
  floorPublishMs: number;
  /** firstPublishMs / floorPublishMs (target ≤ 1.2). */
  firstPublishOverFloor: number;
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
  await servedFromWatchCache(kc, node);
  const start = () => startAgent(config, { kc, io, backend: new SysfsBackend(io, 'simulated'), registry: new Registry(), serveHttp: false });
  const t0 = performance.now();
  let agent = await start();
  const firstPublishMs = performance.now() - t0;
  let floorNode: string | undefined;
  try {
    // The floor runs with the agent stopped: its interval passes would otherwise share the
    // process and the cores with the bare client. The agent is restarted (same devices, so it
    // writes nothing) for the rest.
    await agent.stop();
    floorNode = `${node}-floor`;
    const floorPublishMs = await floorPublish(kc, node, floorNode);
    agent = await start();
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

    const rtts = await probeRoundTrips(kc, { node, device: deviceObjectName(node, tree.mdevs()[0] as string), typeId: TYPE, sourceVersion: VERSION, count: Math.max(50, opts.probes ?? 60) });
    rtts.sort((a, b) => a - b);
    const flood = await probeFlood(kc, node, deviceObjectName(node, tree.mdevs()[0] as string), { typeId: TYPE, sourceVersion: VERSION }, () => agent.probeBacklog(), opts.floodProbes ?? 1000);
    return {
      devices: count,
      firstPublishMs: Math.round(firstPublishMs),
      floorPublishMs: Math.round(floorPublishMs),
      firstPublishOverFloor: Math.round((firstPublishMs / floorPublishMs) * 100) / 100,
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
    if (floorNode) await kubeRequest(kc, { method: 'DELETE', path: '/apis/mdev-operator.io/v1alpha1/mdevdevices', query: { labelSelector: `${LABEL_NODE}=${floorNode}` } }).catch(() => undefined);
    tree.dispose();
  }
}

/**
 * Waits until the API server serves lists of what the agent lists at start from its watch cache. A
 * resource's watch cache is created by the first request for it and answers 429 (Retry-After: 1 s)
 * until initialised, so on a control plane whose CRDs were installed a moment ago the agent's start
 * would include that second; in a running cluster the controller has listed these long before any
 * agent starts. kubeRequest honours the Retry-After. docs/bench/agent-publish.md has the figures.
 */
async function servedFromWatchCache(kc: KubeConfig, node: string): Promise<void> {
  const paths = ['/apis/mdev-operator.io/v1alpha1/mdevdevices', '/apis/mdev-operator.io/v1alpha1/mdevnodes', '/apis/mdev-operator.io/v1alpha1/mdevprobes'];
  await Promise.all(paths.map((path) => kubeRequest(kc, { method: 'GET', path, query: { labelSelector: `${LABEL_NODE}=${node}` } })));
}

/**
 * The agent's first publish without the agent: its own 256 MdevDevices, read back, applied again
 * for `floorNode` by a bare client (spec, then status, per device; the publisher's concurrency).
 */
async function floorPublish(kc: KubeConfig, node: string, floorNode: string): Promise<number> {
  const list = (await kubeRequest(kc, { method: 'GET', path: '/apis/mdev-operator.io/v1alpha1/mdevdevices', query: { labelSelector: `${LABEL_NODE}=${node}` } })) as { items: unknown[] };
  const log = loggerFor('bench-agent-floor');
  const devices = list.items.flatMap((o) => parseFromWire('MdevDevice', { apiVersion: API_VERSION, kind: 'MdevDevice', ...(o as object) }, log) ?? []) as MdevDevice[];
  const bodies = devices.map((d) => {
    const name = deviceObjectName(floorNode, d.spec.id);
    return {
      spec: { apiVersion: API_VERSION, kind: 'MdevDevice', metadata: { name, labels: { ...d.metadata.labels, [LABEL_NODE]: floorNode } }, spec: { ...d.spec, nodeName: floorNode } },
      status: { apiVersion: API_VERSION, kind: 'MdevDevice', metadata: { name }, status: d.status },
    };
  });
  const bare = withUserAgent(kc, STANDIN_USER_AGENTS.floor);
  const queue = [...bodies];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: DEFAULT_PUBLISH_CONCURRENCY }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      await serverSideApply(bare, MDEV_DEVICE_RESOURCE, b.spec as ApplyObject, { fieldManager: FIELD_MANAGER_AGENT, force: true });
      await serverSideApply(bare, MDEV_DEVICE_RESOURCE, b.status as ApplyObject, { fieldManager: FIELD_MANAGER_AGENT, force: true, subresource: 'status' });
    }
  }));
  return performance.now() - t0;
}
