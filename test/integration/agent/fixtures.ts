// Shared setup for the agent's integration tests: a fake sysfs tree with three parents of
// different vendors, a Node object, an agent started in-process with the simulated backend, and
// small readers over the real API server.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { Registry } from 'prom-client';
import { startAgent, type AgentHandle } from '../../../src/agent/agent.ts';
import type { AgentConfig } from '../../../src/agent/config.ts';
import { LABEL_NODE, type MdevDevice, type MdevNode, type MdevProbe } from '../../../src/api/v1alpha1/index.ts';
import { SysfsBackend } from '../../../src/compat/sysfs-backend.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { kubectl } from '../../support/cluster.ts';
import type { PodResourceEntry } from '../../../src/agent/podresources/types.ts';
import type { Clock } from '../../../src/kube/clock.ts';
import { poll } from '../../support/poll.ts';

const REPO = path.resolve(import.meta.dirname, '../../..');

export const NVIDIA_PARENT = '0000:41:00.0';
export const GVT_PARENT = '0000:00:02.0';
export const MTTY_PARENT = 'mtty';
export const NVIDIA_TYPE = 'nvidia-1012';
export const GVT_TYPE = 'i915-GVTg_V5_4';
export const MTTY_TYPE = 'mtty-2';
export const NVIDIA_VERSION = 'nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.54.15;vgpu=0x12';

export interface ThreeVendorTree {
  tree: FakeTree;
  nvidia: string[];
  gvt: string[];
  mtty: string[];
}

/** NVIDIA (2 vGPUs), Intel GVT-g (1) and the mtty sample (1), each with spare capacity. */
export function threeVendorTree(): ThreeVendorTree {
  const tree = FakeTree.create('agent-it-');
  tree.addParent(NVIDIA_PARENT, {
    vendorId: '10de', deviceId: '2331', driver: 'nvidia',
    policy: { name: 'nvidia-branch', board: 'H100-PCIE-80GB', hostDriver: '550.54.15', vgpuVersion: 0x12, vgpuRange: [0x10, 0x13] },
  });
  tree.addType(NVIDIA_PARENT, NVIDIA_TYPE, { name: 'GRID H100-4C', deviceApi: 'vfio-pci', availableInstances: 4 });
  tree.addParent(GVT_PARENT, { vendorId: '8086', deviceId: '591d', driver: 'i915', policy: { name: 'gvt-exact' } });
  tree.addType(GVT_PARENT, GVT_TYPE, { name: 'GVTg_V5_4', deviceApi: 'vfio-pci', availableInstances: 2 });
  tree.addParent(MTTY_PARENT, { driver: 'mtty', policy: { name: 'mtty-stream' } });
  tree.addType(MTTY_PARENT, MTTY_TYPE, { name: 'Dual-port-serial', deviceApi: 'vfio-pci' });
  const nvidia = [randomUUID(), randomUUID()];
  const gvt = [randomUUID()];
  const mtty = [randomUUID()];
  for (const id of nvidia) tree.addMdev(id, NVIDIA_PARENT, NVIDIA_TYPE);
  for (const id of gvt) tree.addMdev(id, GVT_PARENT, GVT_TYPE);
  for (const id of mtty) tree.addMdev(id, MTTY_PARENT, MTTY_TYPE);
  return { tree, nvidia, gvt, mtty };
}

export async function applyCrds(): Promise<void> {
  const r = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', path.join(REPO, 'crds')]);
  if (r.code !== 0) throw new Error(`applying crds/ failed: ${r.stderr}`);
  const w = await kubectl(['wait', '--for', 'condition=Established', '--timeout=60s', 'crd/mdevdevices.mdev-operator.io', 'crd/mdevprobes.mdev-operator.io', 'crd/mdevnodes.mdev-operator.io']);
  if (w.code !== 0) throw new Error(`CRDs not established: ${w.stderr}`);
}

export async function ensureNamespace(name: string): Promise<void> {
  const r = await kubectl(['create', 'namespace', name]);
  if (r.code !== 0 && !r.stderr.includes('AlreadyExists')) throw new Error(`creating namespace ${name} failed: ${r.stderr}`);
}

/** A Node object (data only; no kubelet runs). Returns its uid. */
export async function createNode(kc: KubeConfig, name: string): Promise<string> {
  const body = { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } } };
  const node = (await kubeRequest(kc, { method: 'POST', path: '/api/v1/nodes', body })) as { metadata: { uid: string } };
  return node.metadata.uid;
}

export function agentConfig(nodeName: string, namespace: string, overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    nodeName,
    sysfsRoot: '/nonexistent',
    backend: 'simulated',
    namespace,
    resyncIntervalMs: 3_600_000, // passes are triggered explicitly by the tests
    leaseDurationMs: 40_000,
    leaseRenewMs: 10_000,
    metricsPort: 0,
    healthPort: 0,
    logLevel: 'error',
    ...overrides,
  };
}

export interface StartedAgent {
  agent: AgentHandle;
  io: FakeSysfs;
}

export async function startTestAgent(
  kc: KubeConfig,
  tree: FakeTree,
  config: AgentConfig,
  extra: { podDevices?: () => Promise<readonly PodResourceEntry[]>; serveHttp?: boolean; clock?: Clock } = {},
): Promise<StartedAgent> {
  const io = new FakeSysfs(tree);
  const agent = await startAgent(
    { ...config, sysfsRoot: tree.root },
    { kc, io, backend: new SysfsBackend(io, 'simulated'), registry: new Registry(), serveHttp: extra.serveHttp ?? false, podDevices: extra.podDevices, clock: extra.clock },
  );
  return { agent, io };
}

interface List<T> {
  items: T[];
}

export async function nodeDevices(kc: KubeConfig, node: string): Promise<MdevDevice[]> {
  const list = (await kubeRequest(kc, {
    method: 'GET',
    path: '/apis/mdev-operator.io/v1alpha1/mdevdevices',
    query: { labelSelector: `${LABEL_NODE}=${node}` },
  })) as List<MdevDevice>;
  return list.items;
}

export async function getNodeObject(kc: KubeConfig, node: string): Promise<MdevNode> {
  return (await kubeRequest(kc, { method: 'GET', path: `/apis/mdev-operator.io/v1alpha1/mdevnodes/${node}` })) as MdevNode;
}

export async function createProbe(kc: KubeConfig, body: Record<string, unknown>): Promise<MdevProbe> {
  return (await kubeRequest(kc, { method: 'POST', path: '/apis/mdev-operator.io/v1alpha1/mdevprobes', body })) as MdevProbe;
}

export async function getProbe(kc: KubeConfig, name: string): Promise<MdevProbe> {
  return (await kubeRequest(kc, { method: 'GET', path: `/apis/mdev-operator.io/v1alpha1/mdevprobes/${name}` })) as MdevProbe;
}

/** Polls until `read` returns a value; the mocha timeout bounds the wait. */
export function eventually<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  return poll(what, read, timeoutMs);
}
