// Caches suite: bytes per cached object per kind, in process. Objects are built as the API server
// serves them (the agent's published fields plus the server's metadata; KubeVirt's VMI and VMIM
// fields as v1.9 fills them; a kubelet's Node) and arrive as JSON text, like a watch event. Each
// variant parses them as an informer would and holds N of them; the heap grown after a full GC,
// divided by N, is the figure. Variants: the object as JSON.parse gives it (what client-node's
// informer would cache), as the controller cached it before issue 16 (bookkeeping stripped, then
// decoded by its schema; loose schemas keep what they do not know), and what it caches now (the
// projections of src/controller/cached-objects.ts and cachedVmi/cachedVmim).
import { parseFromWire, SCHEMAS, versionHash, type MdevMigration } from '../src/api/v1alpha1/index.ts';
import { cachedMigration } from '../src/controller/caches.ts';
import { cachedDevice, cachedMdevNode, StringPool } from '../src/controller/cached-objects.ts';
import { parseAgentLease, parseNode } from '../src/controller/snapshot.ts';
import { withoutBookkeeping } from '../src/kube/informer.ts';
import { declaredFieldsOnly } from '../src/kube/lenient-decode.ts';
import { cachedVmi, cachedVmim, parseVmi, parseVmim } from '../src/kubevirt/types.ts';
import { loggerFor } from '../src/observability/logger.ts';
import { profiles } from './placement.ts';
import { collectGarbage } from './stats.ts';
import type { Result, Suite } from './report/types.ts';

const log = loggerFor('bench-caches');
const CREATED = '2026-12-01T08:00:00Z';
const uid = (s: string): string => `0f1e2d3c-${s.padStart(4, '0').slice(-4)}-4b5a-8987-${s.padStart(12, '0').slice(-12)}`;

function managed(manager: string, subresource?: string): Record<string, unknown> {
  return { manager, operation: 'Apply', apiVersion: 'mdev-operator.io/v1alpha1', time: CREATED, fieldsType: 'FieldsV1', ...(subresource ? { subresource } : {}), fieldsV1: { 'f:metadata': { 'f:labels': {} }, 'f:spec': { 'f:nodeName': {}, 'f:type': {} } } };
}

function meta(name: string, i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, uid: uid(String(i)), resourceVersion: String(100_000 + i), generation: 1, creationTimestamp: CREATED, ...extra };
}

/** An MdevDevice as the agent publishes it (desired-state.ts) with the API server's metadata. */
function mdevDevice(i: number): unknown {
  const node = `worker-${String(Math.floor(i / 8)).padStart(4, '0')}`;
  const p = profiles()[Math.floor(i / 8) % 20] as ReturnType<typeof profiles>[number];
  const id = uid(`d${i}`);
  return {
    apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevDevice',
    metadata: meta(`${node}.${id}`, i, {
      labels: { 'mdev-operator.io/node': node, 'mdev-operator.io/type': p.typeId, 'mdev-operator.io/version-hash': versionHash(p.version) },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: uid(`n${i >> 3}`) }],
      managedFields: [managed('mdev-operator-agent'), managed('mdev-operator-agent', 'status')],
    }),
    spec: { nodeName: node, id, kind: 'mdev', type: { id: p.typeId, name: 'GRID H100-4C', deviceApi: 'vfio-pci' }, parent: { address: `0000:${(0x41 + (i % 8)).toString(16)}:00.0`, vendorId: '10de', deviceId: '2331', driver: 'nvidia' } },
    status: { migrationVersion: p.version, migratable: true, versionKind: 'Instance', backend: 'sysfs', ...(i % 2 === 0 ? { consumer: { kind: 'VirtualMachineInstance', namespace: 'vms', name: `vm-${i}`, uid: uid(`v${i}`) } } : {}) },
  };
}

/** An MdevNode: two parents with spare capacity, no claims. */
function mdevNode(i: number): unknown {
  const node = `worker-${String(i).padStart(4, '0')}`;
  const p = profiles()[i % 20] as ReturnType<typeof profiles>[number];
  const entry = (bus: number) => ({ parent: { address: `0000:${bus.toString(16)}:00.0`, vendorId: '10de', deviceId: '2331', driver: 'nvidia' }, type: { id: p.typeId, name: 'GRID H100-4C', deviceApi: 'vfio-pci' }, availableInstances: 2, migrationVersion: p.version, migratable: true });
  return {
    apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevNode',
    metadata: meta(node, i, { labels: { 'mdev-operator.io/node': node }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: uid(`n${i}`) }], managedFields: [managed('mdev-operator-agent')] }),
    spec: { nodeName: node, backend: 'sysfs', capacity: [entry(0x41), entry(0x81)] },
  };
}

/** A kubelet's Node with KubeVirt's node-labeller labels (host-model CPU, features). */
function node(i: number): unknown {
  const name = `worker-${String(i).padStart(4, '0')}`;
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'kubevirt.io/schedulable': 'true',
    'node-role.kubernetes.io/worker': '', 'topology.kubernetes.io/zone': `zone-${i % 3}`, 'host-model-cpu.node.kubevirt.io/Icelake-Server': 'true',
    'cpu-vendor.node.kubevirt.io/Intel': 'true', 'kubevirt.io/ksm-enabled': 'false', 'nvidia.com/gpu.product': 'H100-PCIE-80GB',
  };
  for (const f of ['avx512f', 'avx512bw', 'avx512vl', 'aes', 'pclmuldq', 'vmx', 'ssse3', 'sse4.2', 'x2apic', 'xsave']) labels[`cpu-feature.node.kubevirt.io/${f}`] = 'true';
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: meta(name, i, { labels, annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' } }),
    spec: { podCIDR: `10.${i >> 8}.${i & 255}.0/24`, taints: i % 50 === 0 ? [{ key: 'maintenance', effect: 'NoSchedule' }] : [] },
    status: {
      capacity: { cpu: '64', memory: '527948816Ki', pods: '110', 'nvidia.com/GRID_H100-4C': '8' },
      allocatable: { cpu: '63', memory: '526900240Ki', pods: '110', 'nvidia.com/GRID_H100-4C': '8' },
      conditions: ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'].map((type) => ({ type, status: type === 'Ready' ? 'True' : 'False', lastHeartbeatTime: CREATED, lastTransitionTime: CREATED, reason: `Kubelet${type}`, message: `kubelet reports ${type}` })),
      addresses: [{ type: 'InternalIP', address: `10.1.${i >> 8}.${i & 255}` }, { type: 'Hostname', address: name }],
      nodeInfo: { machineID: uid(`m${i}`), systemUUID: uid(`s${i}`), bootID: uid(`b${i}`), kernelVersion: '6.8.0', osImage: 'RHEL 9.4', containerRuntimeVersion: 'cri-o://1.31.0', kubeletVersion: 'v1.36.3', kubeProxyVersion: 'v1.36.3', operatingSystem: 'linux', architecture: 'amd64' },
      images: Array.from({ length: 8 }, (_, k) => ({ names: [`quay.io/kubevirt/virt-launcher@sha256:${String(k).repeat(64).slice(0, 64)}`], sizeBytes: 400_000_000 + k })),
    },
  };
}

function lease(i: number): unknown {
  const name = `worker-${String(i).padStart(4, '0')}`;
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: meta(`mdev-agent.${name}`, i, { namespace: 'mdev-operator-system' }), spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: '2026-12-01T08:00:00.000000Z', acquireTime: CREATED, leaseTransitions: 0 } };
}

/** A running VMI with one vGPU as KubeVirt v1.9 fills it. */
function vmi(i: number): unknown {
  const name = `vm-${i}`;
  return {
    apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance',
    metadata: meta(name, i, {
      namespace: 'vms', finalizers: ['kubevirt.io/virtualMachineControllerFinalize', 'foregroundDeleteVirtualMachine'],
      labels: { 'kubevirt.io/nodeName': `worker-${i}`, 'vm.kubevirt.io/name': name, 'kubevirt.io/domain': name },
      annotations: { 'kubevirt.io/latest-observed-api-version': 'v1', 'kubevirt.io/storage-observed-api-version': 'v1', 'kubevirt.io/vm-generation': '1' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name, uid: uid(`vm${i}`), controller: true, blockOwnerDeletion: true }],
    }),
    spec: {
      architecture: 'amd64',
      domain: {
        cpu: { model: 'host-model', cores: 8, sockets: 1, threads: 1 }, memory: { guest: '32Gi' }, resources: { requests: { memory: '32Gi' } },
        machine: { type: 'q35' }, firmware: { uuid: uid(`f${i}`), bootloader: { efi: { secureBoot: false } } }, features: { acpi: { enabled: true } },
        devices: { gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/GRID_H100-4C' }], disks: [{ name: 'rootdisk', disk: { bus: 'virtio' } }, { name: 'cloudinit', disk: { bus: 'virtio' } }], interfaces: [{ name: 'default', masquerade: {}, macAddress: '52:54:00:00:00:01' }], rng: {} },
      },
      networks: [{ name: 'default', pod: {} }],
      volumes: [{ name: 'rootdisk', dataVolume: { name: `${name}-root` } }, { name: 'cloudinit', cloudInitNoCloud: { userData: '#cloud-config\npassword: fedora\nchpasswd: { expire: False }\n' } }],
      evictionStrategy: 'LiveMigrate', terminationGracePeriodSeconds: 180,
    },
    status: {
      phase: 'Running', nodeName: `worker-${i}`, migrationMethod: 'LiveMigration', migrationTransport: 'Unix', qosClass: 'Burstable', launcherContainerImageVersion: 'quay.io/kubevirt/virt-launcher:v1.9.0',
      conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: CREATED }, { type: 'LiveMigratable', status: 'True', lastProbeTime: null, lastTransitionTime: null }, { type: 'AgentConnected', status: 'True', lastProbeTime: null, lastTransitionTime: CREATED }],
      interfaces: [{ name: 'default', ipAddress: `10.128.${i >> 8}.${i & 255}`, ipAddresses: [`10.128.${i >> 8}.${i & 255}`], mac: '52:54:00:00:00:01', interfaceName: 'eth0', infoSource: 'domain, guest-agent', queueCount: 1, podInterfaceName: 'eth0' }],
      guestOSInfo: { id: 'fedora', name: 'Fedora Linux', prettyName: 'Fedora Linux 40 (Cloud Edition)', version: '40', versionId: '40', kernelRelease: '6.8.5-301.fc40.x86_64' },
      volumeStatus: [{ name: 'rootdisk', target: 'vda', persistentVolumeClaimInfo: { claimName: `${name}-root`, capacity: { storage: '30Gi' }, accessModes: ['ReadWriteMany'], volumeMode: 'Block' } }, { name: 'cloudinit', target: 'vdb', size: 1048576 }],
      activePods: { [uid(`p${i}`)]: `worker-${i}` }, currentCPUTopology: { cores: 8, sockets: 1, threads: 1 }, memory: { guestAtBoot: '32Gi', guestCurrent: '32Gi', guestRequested: '32Gi' },
      machine: { type: 'pc-q35-rhel9.4.0' }, selinuxContext: 'system_u:object_r:container_file_t:s0:c1,c2',
    },
  };
}

function vmim(i: number): unknown {
  return {
    apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration',
    metadata: meta(`vm-${i}-mdevmig-1`, i, {
      namespace: 'vms', finalizers: ['kubevirt.io/migrationJobFinalize'], labels: { 'kubevirt.io/vmi-name': `vm-${i}` }, annotations: { 'mdev-operator.io/target-node': `worker-${i + 1}` },
      ownerReferences: [{ apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevMigration', name: `vm-${i}-move`, uid: uid(`mm${i}`), controller: true, blockOwnerDeletion: true }],
    }),
    spec: { vmiName: `vm-${i}`, addedNodeSelector: { 'kubernetes.io/hostname': `worker-${i + 1}` } },
    status: {
      phase: 'Succeeded',
      phaseTransitionTimestamps: ['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Succeeded'].map((phase) => ({ phase, phaseTransitionTimestamp: CREATED })),
      migrationState: { sourceNode: `worker-${i}`, targetNode: `worker-${i + 1}`, targetPod: `virt-launcher-vm-${i}-abcde`, migrationUid: uid(`vmim${i}`), completed: true, startTimestamp: CREATED, endTimestamp: CREATED, mode: 'PreCopy', targetNodeAddress: '10.1.0.2', targetDirectMigrationNodePorts: { '40001': 0, '40002': 49152 } },
    },
  };
}

function probe(i: number): unknown {
  const p = profiles()[i % 20] as ReturnType<typeof profiles>[number];
  const node = `worker-${String(i).padStart(4, '0')}`;
  return {
    apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevProbe',
    metadata: meta(`${node}.${uid(`pr${i}`)}`, i, { labels: { 'mdev-operator.io/node': node }, managedFields: [managed('mdev-operator-controller'), managed('mdev-operator-agent', 'status')] }),
    spec: { nodeName: node, typeId: p.typeId, sourceVersion: p.version, devices: [`${node}.${uid(`d${i}`)}`] },
    status: { observedGeneration: 1, results: [{ device: `${node}.${uid(`d${i}`)}`, accepted: i % 3 !== 0, reason: i % 3 === 0 ? 'EINVAL: host driver branch differs' : 'accepted', targetVersionHash: versionHash(p.version) }] },
  };
}

/** A finished MdevMigration with a full status (20 candidate verdicts, conditions). */
function migration(i: number): unknown {
  return {
    apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevMigration',
    metadata: meta(`vm-${i}-move`, i, { namespace: 'vms', managedFields: [managed('kubectl'), managed('mdev-operator-controller', 'status')] }),
    spec: { vmiName: `vm-${i}`, ttlSecondsAfterFinished: 3600 },
    status: {
      phase: 'Succeeded', observedGeneration: 1, sourceNode: `worker-${i}`, targetNode: `worker-${i + 1}`, probes: 10, decisionMillis: 3, migrationName: `vm-${i}-mdevmig-1`, attempts: 1,
      completionTime: CREATED, message: `moved to worker-${i + 1}`,
      devices: [{ source: `worker-${i}.${uid(`d${i}`)}`, pool: 'GRID_H100-4C', target: `worker-${i + 1}.${uid(`d${i + 8}`)}` }],
      candidates: Array.from({ length: 20 }, (_, k) => ({ node: `worker-${k}`, verdict: k % 2 === 0 ? 'Compatible' : 'Incompatible', message: k % 2 === 0 ? 'every free GRID_H100-4C device accepts the source string' : '1 of 2 free nvidia-1012 devices incompatible: EINVAL: host driver branch differs' })),
      verdictTotals: { Compatible: 500, Incompatible: 480, AgentUnavailable: 20 },
      conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'the VMI runs on the target', lastTransitionTime: CREATED, observedGeneration: 1 }, { type: 'Progressing', status: 'False', reason: 'Succeeded', message: 'done', lastTransitionTime: CREATED, observedGeneration: 1 }],
    },
  };
}

type Variant = (raw: unknown, strings: StringPool) => unknown;

interface Kind {
  kind: string;
  count: number;
  make: (i: number) => unknown;
  /** As the controller's informer parsed it before issue 16 (bookkeeping stripped). */
  before: Variant;
  now: Variant;
}

const clean = withoutBookkeeping;

const KINDS: Kind[] = [
  { kind: 'MdevDevice', count: 8000, make: mdevDevice, before: (r) => parseFromWire('MdevDevice', clean(r), log), now: (r, s) => cachedDevice(parseFromWire('MdevDevice', clean(r), log)!, s) },
  { kind: 'MdevNode', count: 1000, make: mdevNode, before: (r) => parseFromWire('MdevNode', clean(r), log), now: (r, s) => cachedMdevNode(parseFromWire('MdevNode', clean(r), log)!, s) },
  { kind: 'Node', count: 1000, make: node, before: (r) => parseNode(clean(r)), now: (r) => parseNode(clean(r)) },
  { kind: 'Lease (agent)', count: 1000, make: lease, before: (r) => parseAgentLease(clean(r)), now: (r) => parseAgentLease(clean(r)) },
  { kind: 'VirtualMachineInstance', count: 1000, make: vmi, before: (r) => parseVmi(clean(r), log), now: (r) => cachedVmi(parseVmi(clean(r), log)!) },
  { kind: 'VirtualMachineInstanceMigration', count: 1000, make: vmim, before: (r) => parseVmim(clean(r), log), now: (r) => cachedVmim(parseVmim(clean(r), log)!) },
  { kind: 'MdevProbe', count: 1000, make: probe, before: (r) => parseFromWire('MdevProbe', clean(r), log), now: (r) => declaredFieldsOnly(SCHEMAS.MdevProbe, parseFromWire('MdevProbe', clean(r), log)!) },
  {
    kind: 'MdevMigration (finished)', count: 1000, make: migration,
    before: (r) => cachedMigration(parseFromWire('MdevMigration', clean(r), log)),
    now: (r) => cachedMigration(declaredFieldsOnly(SCHEMAS.MdevMigration, parseFromWire('MdevMigration', clean(r), log) as MdevMigration)),
  },
];

/** Heap bytes per object held: N objects from `texts` through `variant`, after full GCs. */
function bytesPerObject(texts: readonly string[], variant: Variant): number {
  collectGarbage();
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  const strings = new StringPool();
  const held = texts.map((t) => variant(JSON.parse(t), strings));
  if (held.some((h) => h === undefined)) throw new Error('a benchmark object did not parse: the generator and the schema disagree');
  collectGarbage();
  collectGarbage();
  const bytes = (process.memoryUsage().heapUsed - before) / texts.length;
  held.length = 0;
  return Math.round(bytes);
}

export async function benchCaches(say: (l: string) => void = () => undefined): Promise<Result[]> {
  const rows: Result[] = [];
  for (const k of KINDS) {
    const texts = Array.from({ length: k.count }, (_, i) => JSON.stringify(k.make(i)));
    const served = bytesPerObject(texts, (r) => r);
    const before = bytesPerObject(texts, k.before);
    const now = bytesPerObject(texts, k.now);
    say(`${k.kind}: served ${served} B, before ${before} B, now ${now} B`);
    const id = k.kind.split(' ')[0]?.toLowerCase() ?? k.kind;
    rows.push({
      id: `bytes-${id}`, label: `${k.kind}: heap per cached object (${k.count.toLocaleString('en-US')} held)`, unit: 'bytes', value: now,
      note: `as served (JSON.parse) ${served.toLocaleString('en-US')} B; as cached before issue 16 ${before.toLocaleString('en-US')} B; JSON text ${Math.round(texts.reduce((n, t) => n + t.length, 0) / texts.length).toLocaleString('en-US')} B`,
    });
  }
  return rows;
}

export const suite: Suite = {
  name: 'caches',
  title: 'Informer caches: bytes per cached object (in process)',
  needsCluster: false,
  about:
    'Objects built as the API server serves them (the agent\'s MdevDevices and MdevNodes with the server\'s metadata and managedFields; a kubelet\'s Node with KubeVirt\'s CPU labels and node images; KubeVirt v1.9\'s VMI with one vGPU, disks, interfaces and guest info; a finished VMIM; an answered MdevProbe; a finished MdevMigration with 20 candidate verdicts), parsed from JSON text as a watch delivers them and held by the thousand. The figure is the V8 heap grown per object after full GCs (`--expose-gc`), the object only (not the informer\'s map entry or key). The note gives the same objects as JSON.parse returns them, and as the controller cached them before issue 16 (bookkeeping stripped, decoded by the full schema). What each kind keeps: src/controller/cached-objects.ts.',
  planned: ['heap bytes per cached object for each kind the controller caches, next to the same object as served and as cached before'],
  run: (ctx) => benchCaches(ctx.log),
};
