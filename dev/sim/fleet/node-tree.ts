// The fake sysfs tree of one STAND-IN node: each GPU of its spec becomes a parent with a simulated
// vendor policy, one mdev type, the spec's devices already created and its spare instances left.
// Vendors differ in where the parent sits (a PCI function, or the mtty sample's virtual device),
// which policy answers for it, and whether devices carry creation parameters (accel).
import { mttyPorts } from '../../fakes/policies/mtty-stream.ts';
import type { PolicySpec } from '../../fakes/policies/policy.ts';
import { FakeTree } from '../../fakes/sysfs/fake-tree.ts';
import type { CreationParam } from '../../../src/sysfs/inventory.ts';
import { gpuAddress, seededUuid, type FleetNodeSpec, type GpuSpec, type Vendor } from './profile.ts';

export interface BuiltTree {
  tree: FakeTree;
  /** Device UUIDs created, per parent name (a PCI address, or `mtty`), in creation order. */
  devices: Map<string, string[]>;
}

interface Hardware {
  /** PCI ids; the mtty sample is a virtual device and has none. */
  vendorId?: string;
  deviceId?: string;
  driver: string;
  /** Prefix of the device-plugin resource name a VMI requests. */
  resourceDomain: string;
}

const HARDWARE: Readonly<Record<Vendor, Hardware>> = {
  nvidia: { vendorId: '10de', deviceId: '2331', driver: 'nvidia', resourceDomain: 'nvidia.com' },
  'intel-gvt': { vendorId: '8086', deviceId: '591d', driver: 'i915', resourceDomain: 'intel.com' },
  mtty: { driver: 'mtty', resourceDomain: 'mdev.kernel.org' },
  accel: { vendorId: '19e5', deviceId: 'a251', driver: 'hisi_acc_vfio_pci', resourceDomain: 'hisilicon.com' },
};

/** The policy the simulated driver of `gpu` follows (dev/fakes/policies). */
export function policyOf(gpu: GpuSpec): PolicySpec {
  switch (gpu.vendor) {
    case 'intel-gvt':
      return { name: 'gvt-exact', ...(gpu.softwareVersion !== undefined ? { softwareVersion: gpu.softwareVersion } : {}) };
    case 'mtty':
      // The pool is sized so the type offers exactly devices + spare instances.
      return { name: 'mtty-stream', streamVersion: gpu.streamVersion ?? '1.0', poolPorts: (gpu.devices + gpu.spare) * mttyPorts(gpu.typeId) };
    case 'accel':
      return { name: 'accel-config', driverVersion: gpu.driverVersion ?? '2.3' };
    case 'nvidia':
      return { name: 'nvidia-branch', board: gpu.board, hostDriver: gpu.hostDriver, vgpuVersion: gpu.vgpuVersion, vgpuRange: gpu.vgpuRange };
  }
}

/** The creation parameters of every device of `gpu`, in mdevctl order (accel only). */
export function creationParamsOf(gpu: GpuSpec): CreationParam[] {
  if (gpu.vendor !== 'accel' || !gpu.params) return [];
  return (['qp', 'svc', 'agg'] as const).flatMap((key) => (gpu.params?.[key] !== undefined ? [{ key, value: gpu.params[key] }] : []));
}

/**
 * Parent names of a node's GPUs: the i-th is a PCI function at gpuAddress(i), except the mtty
 * sample's virtual device, named `mtty` as the kernel names it (`mtty1`, ... for further ones).
 */
export function parentNames(gpus: readonly GpuSpec[]): string[] {
  let mtty = 0;
  return gpus.map((g, i) => (g.vendor === 'mtty' ? `mtty${mtty++ || ''}` : gpuAddress(i)));
}

export function buildNodeTree(spec: FleetNodeSpec): BuiltTree {
  const tree = FakeTree.create(`fleet-${spec.name.slice(0, 40)}-`);
  const devices = new Map<string, string[]>();
  const names = parentNames(spec.gpus);
  spec.gpus.forEach((gpu, i) => {
    const parent = names[i] as string;
    const { vendorId, deviceId, driver } = HARDWARE[gpu.vendor];
    tree.addParent(parent, { ...(vendorId ? { vendorId } : {}), ...(deviceId ? { deviceId } : {}), driver, policy: policyOf(gpu) });
    tree.addType(parent, gpu.typeId, {
      name: gpu.typeName ?? gpu.typeId,
      deviceApi: 'vfio-pci',
      // mtty derives its instances from the port pool.
      ...(gpu.vendor === 'mtty' ? {} : { availableInstances: gpu.devices + gpu.spare }),
    });
    const params = creationParamsOf(gpu);
    const uuids: string[] = [];
    for (let d = 0; d < gpu.devices; d++) {
      // The seed keeps the PCI address for GPUs, so existing fleets keep their device UUIDs.
      const uuid = seededUuid(`${spec.name}/${parent}/${d}`);
      tree.addMdev(uuid, parent, gpu.typeId, params);
      uuids.push(uuid);
    }
    devices.set(parent, uuids);
  });
  return { tree, devices };
}

/** The device-plugin resource name a VMI requests for a GPU of this spec (as NVIDIA's plugin names them). */
export function resourceNameOf(gpu: Pick<GpuSpec, 'vendor' | 'typeId' | 'typeName'>): string {
  const name = (gpu.typeName ?? gpu.typeId).replace(/[^A-Za-z0-9_.-]+/g, '_');
  return `${HARDWARE[gpu.vendor].resourceDomain}/${name}`;
}
