// Plain API objects for the controller's unit tests (no server). Objects carry fields the API server
// would send besides the ones the operator reads (creation time, owner references, conditions, a
// VMI's disks), and `view()` and `vmi()` pass them through the caches' projections
// (src/controller/cached-objects.ts), so every test that decides on a view decides on what the
// informers keep: a projection that drops a field the code reads fails these tests.
import type { MdevDevice, MdevMigration, MdevNode } from '../../../src/api/v1alpha1/index.ts';
import { cachedDevice, cachedMdevNode, StringPool } from '../../../src/controller/cached-objects.ts';
import type { AgentLease, ClusterView, NodeObject } from '../../../src/controller/snapshot.ts';
import { cachedVmi, parseVmi, type Vmi } from '../../../src/kubevirt/types.ts';

const CREATED = '2025-12-31T00:00:00Z';

export const NOW = Date.parse('2026-01-01T00:00:00Z');

export function device(node: string, index: number, version: string, extra: { consumer?: string; typeId?: string; typeName?: string } = {}): MdevDevice {
  const id = `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
  return {
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevDevice',
    metadata: {
      name: `${node}.${id}`, resourceVersion: '1', uid: `uid-dev-${index}`, generation: 1, creationTimestamp: CREATED,
      labels: { 'mdev-operator.io/node': node }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: `uid-node-${node}` }],
    },
    spec: { nodeName: node, id, kind: 'mdev', type: { id: extra.typeId ?? 'nvidia-1012', ...(extra.typeName ? { name: extra.typeName } : {}) }, parent: { address: '0000:41:00.0', vendorId: '10de', deviceId: '2331', driver: 'nvidia' } },
    status: {
      migratable: true,
      migrationVersion: version,
      backend: 'simulated',
      conditions: [{ type: 'Published', status: 'True', reason: 'Discovered', message: 'seen by the agent', lastTransitionTime: CREATED }],
      ...(extra.consumer ? { consumer: { kind: 'VirtualMachineInstance', namespace: 'vms', name: extra.consumer, uid: `uid-${extra.consumer}` } } : {}),
    },
  };
}

/** An MdevNode with capacity claims: `[migration name, pool, units, expiresAt?]`. */
export function mdevNode(name: string, claims: [string, string, number, string?][] = []): MdevNode {
  return {
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevNode',
    metadata: { name, resourceVersion: '1' },
    spec: { nodeName: name, backend: 'simulated' },
    ...(claims.length > 0
      ? {
          status: {
            claims: claims.map(([m, pool, units, expiresAt]) => ({
              migration: { namespace: 'vms', name: m, uid: `uid-${m}` },
              pool,
              typeId: 'nvidia-1012',
              units,
              claimedAt: '2025-12-31T23:50:00Z',
              expiresAt: expiresAt ?? '2026-01-01T01:00:00Z',
            })),
          },
        }
      : {}),
  };
}

/** A Node as KubeVirt would run VMIs on it: hostname label and virt-handler's schedulable label. */
export function nodeObj(name: string, extra: Partial<NodeObject> = {}): NodeObject {
  return { name, labels: { 'kubernetes.io/hostname': name, 'kubevirt.io/schedulable': 'true' }, unschedulable: false, taints: [], ...extra };
}

export function lease(node: string, renewedAgoMs = 1000): AgentLease {
  return { name: `mdev-agent.${node}`, nodeName: node, holderIdentity: node, leaseDurationSeconds: 40, renewTime: new Date(NOW - renewedAgoMs).toISOString() };
}

/** A VMI as the VMI cache keeps it (decoded, then projected). */
export function vmi(name: string, node: string, phase = 'Running'): Vmi {
  const decoded = parseVmi({
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name, namespace: 'vms', uid: `uid-${name}`, creationTimestamp: CREATED, finalizers: ['kubevirt.io/virtualMachineControllerFinalize'] },
    spec: { domain: { resources: { requests: { memory: '4Gi' } }, devices: { disks: [{ name: 'root', disk: { bus: 'virtio' } }] } }, volumes: [{ name: 'root', containerDisk: { image: 'fedora' } }] },
    status: { phase, nodeName: node, interfaces: [{ ipAddress: '10.0.0.1', name: 'default' }], guestOSInfo: { name: 'Fedora' } },
  });
  if (!decoded) throw new Error(`fixture VMI ${name} does not decode`);
  return cachedVmi(decoded);
}

export function migration(name: string, phase?: MdevMigration['status'] extends infer S ? S extends { phase?: infer P } ? P : never : never, targets: string[] = []): MdevMigration {
  return {
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevMigration',
    metadata: { name, namespace: 'vms', uid: `uid-${name}`, generation: 1 },
    spec: { vmiName: 'vm', allowCreateTarget: false, dryRun: false, deadlineSeconds: 900 },
    ...(phase ? { status: { phase, devices: targets.map((t) => ({ source: 'src', pool: 'nvidia-1012', target: t })) } } : {}),
  };
}

/** The view the caches would give: devices and MdevNodes as their informers keep them. */
export function view(nodes: NodeObject[], leases: AgentLease[], devices: MdevDevice[], mdevNodes: MdevNode[] = []): ClusterView {
  const strings = new StringPool();
  return { nodes, leases, devices: devices.map((d) => cachedDevice(d, strings)), mdevNodes: mdevNodes.map((n) => cachedMdevNode(n, strings)) };
}
