// The fake sysfs tree of one STAND-IN node: each GPU of its spec becomes a parent with a simulated
// vendor policy, one mdev type, the spec's devices already created and its spare instances left.
import { FakeTree } from '../../sysfs/fake-tree.ts';
import { gpuAddress, seededUuid, type FleetNodeSpec, type GpuSpec } from './profile.ts';

export interface BuiltTree {
  tree: FakeTree;
  /** Device UUIDs created, per GPU address, in creation order. */
  devices: Map<string, string[]>;
}

function policyOf(gpu: GpuSpec) {
  if (gpu.vendor === 'intel-gvt') return { name: 'gvt-exact' as const, ...(gpu.softwareVersion !== undefined ? { softwareVersion: gpu.softwareVersion } : {}) };
  return { name: 'nvidia-branch' as const, board: gpu.board, hostDriver: gpu.hostDriver, vgpuVersion: gpu.vgpuVersion, vgpuRange: gpu.vgpuRange };
}

export function buildNodeTree(spec: FleetNodeSpec): BuiltTree {
  const tree = FakeTree.create(`fleet-${spec.name.slice(0, 40)}-`);
  const devices = new Map<string, string[]>();
  spec.gpus.forEach((gpu, i) => {
    const address = gpuAddress(i);
    const intel = gpu.vendor === 'intel-gvt';
    tree.addParent(address, {
      vendorId: intel ? '8086' : '10de',
      deviceId: intel ? '591d' : '2331',
      driver: intel ? 'i915' : 'nvidia',
      policy: policyOf(gpu),
    });
    tree.addType(address, gpu.typeId, {
      name: gpu.typeName ?? gpu.typeId,
      deviceApi: 'vfio-pci',
      availableInstances: gpu.devices + gpu.spare,
    });
    const uuids: string[] = [];
    for (let d = 0; d < gpu.devices; d++) {
      const uuid = seededUuid(`${spec.name}/${address}/${d}`);
      tree.addMdev(uuid, address, gpu.typeId);
      uuids.push(uuid);
    }
    devices.set(address, uuids);
  });
  return { tree, devices };
}

/** The device-plugin resource name a VMI requests for a GPU of this spec (as NVIDIA's plugin names them). */
export function resourceNameOf(gpu: Pick<GpuSpec, 'vendor' | 'typeId' | 'typeName'>): string {
  const name = (gpu.typeName ?? gpu.typeId).replace(/[^A-Za-z0-9_.-]+/g, '_');
  return gpu.vendor === 'intel-gvt' ? `intel.com/${name}` : `nvidia.com/${name}`;
}
