// A fake host with parents of four vendors (and one vendor-VFIO VF), shared by the sysfs and
// compat unit tests. The simulated drivers stand in for i915, nvidia, mtty and hisi_acc.
import { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';

export const GVT = '0000:00:02.0';
export const NV = '0000:41:00.4';
export const NV_NVL = '0000:42:00.4';
export const ACCEL = '0000:3b:00.1';
export const MTTY = 'mtty';
export const NV_VF = '0000:41:00.5';
export const NV_VF_IDLE = '0000:41:00.6';

export const UUID_GVT = '6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11';
export const UUID_NV = '91ab0c3d-5e6f-4a1b-8c2d-3e4f5a6b7c8d';
export const UUID_MTTY = '03cd1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f';
export const UUID_ACCEL_AGG2 = 'aa000000-0000-4000-8000-000000000002';
export const UUID_ACCEL_AGG1 = 'aa000000-0000-4000-8000-000000000001';

export const H100_80GB = { name: 'nvidia-branch' as const, board: 'H100-PCIE-80GB', hostDriver: '550.54.15', vgpuVersion: 0x12, vgpuRange: [0x10, 0x13] as [number, number] };

export function buildThreeVendorTree(): FakeTree {
  const tree = FakeTree.create('mdev-unit-');
  tree
    .addParent(GVT, { vendorId: '8086', deviceId: '591d', driver: 'i915', policy: { name: 'gvt-exact' } })
    .addType(GVT, 'i915-GVTg_V5_4', {
      name: 'GVTg_V5_4',
      description: 'low_gm_size: 128MB\nhigh_gm_size: 512MB\nfence: 4\nresolution: 1920x1200\nweight: 4',
      deviceApi: 'vfio-pci',
      availableInstances: 4,
    })
    .addType(GVT, 'i915-GVTg_V5_8', { deviceApi: 'vfio-pci', availableInstances: 8, migrationVersion: false })
    .addMdev(UUID_GVT, GVT, 'i915-GVTg_V5_4')
    .addParent(NV, { vendorId: '10de', deviceId: '2331', driver: 'nvidia', policy: H100_80GB })
    .addType(NV, 'nvidia-1012', { name: 'GRID H100-4C', deviceApi: 'vfio-pci', availableInstances: 1 })
    .addMdev(UUID_NV, NV, 'nvidia-1012')
    .addParent(NV_NVL, { vendorId: '10de', deviceId: '2321', driver: 'nvidia', policy: { ...H100_80GB, board: 'H100-NVL-94GB' } })
    .addType(NV_NVL, 'nvidia-1012', { name: 'GRID H100-4C', deviceApi: 'vfio-pci', availableInstances: 1 })
    .addParent(MTTY, { driver: 'mtty', policy: { name: 'mtty-stream' } })
    .addType(MTTY, 'mtty-1', { description: 'Single port serial', deviceApi: 'vfio-pci' })
    .addType(MTTY, 'mtty-2', { name: 'Dual port serial', deviceApi: 'vfio-pci' })
    .addMdev(UUID_MTTY, MTTY, 'mtty-2')
    .addParent(ACCEL, { vendorId: '19e5', deviceId: 'a251', driver: 'hisi_acc_vfio_pci', policy: { name: 'accel-config', driverVersion: '2.3' } })
    .addType(ACCEL, 'hisi_acc-qm', { deviceApi: 'vfio-pci', availableInstances: 4 })
    .addMdev(UUID_ACCEL_AGG2, ACCEL, 'hisi_acc-qm', [{ key: 'qp', value: '64' }, { key: 'svc', value: 'sym+asym' }, { key: 'agg', value: '2' }])
    .addMdev(UUID_ACCEL_AGG1, ACCEL, 'hisi_acc-qm', [{ key: 'agg', value: '1' }])
    .addVendorVf(NV_VF, 1012, { vendorId: '10de', deviceId: '2331', policy: H100_80GB })
    .addVendorVf(NV_VF_IDLE, 0, { vendorId: '10de', deviceId: '2331', policy: H100_80GB });
  return tree;
}
