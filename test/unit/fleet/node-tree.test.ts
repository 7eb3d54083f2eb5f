// The STAND-IN fleet's node trees for every simulated vendor, read back the way the agent reads a
// host (sysfs discovery) and written to the way a probe writes (FakeSysfs, simulated drivers).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { MTTY_MAGIC } from '../../../dev/fakes/policies/mtty-stream.ts';
import { buildNodeTree, creationParamsOf, parentNames, resourceNameOf, type BuiltTree } from '../../../dev/sim/fleet/node-tree.ts';
import { DEFAULT_TYPE, expandProfile, gpuAddress, gpuSpec, parseProfile, DEMO_PROFILE, type FleetNodeSpec, type GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { discover } from '../../../src/sysfs/discovery.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import type { DiscoveredInventory } from '../../../src/sysfs/inventory.ts';
import type { SysfsError } from '../../../src/sysfs/sysfs-io.ts';

const ACCEL_PARAMS = { qp: '64', svc: 'sym+asym', agg: '2' };

function node(name: string, gpus: GpuSpec[]): FleetNodeSpec {
  return { name, labels: {}, taints: [], unschedulable: false, agent: true, gpus };
}

/** One parent of each vendor, in the order NVIDIA, GVT, mtty, accel. */
function fourVendors(name: string, accelParams: GpuSpec['params'] = ACCEL_PARAMS): FleetNodeSpec {
  return node(name, [
    gpuSpec.parse({ vendor: 'nvidia', hostDriver: '550.90.07', devices: 2, spare: 1 }),
    gpuSpec.parse({ vendor: 'intel-gvt', softwareVersion: 3, devices: 1 }),
    gpuSpec.parse({ vendor: 'mtty', typeId: 'mtty-2', streamVersion: '1.1', devices: 2, spare: 3 }),
    gpuSpec.parse({ vendor: 'accel', driverVersion: '2.3', params: accelParams, devices: 2 }),
  ]);
}

function versionOf(inv: DiscoveredInventory, typeId: string): string[] {
  return inv.devices.filter((d) => d.type.id === typeId).map((d) => readFileSync(d.attrPath as string, 'utf8').trim());
}

describe('fleet node trees for nvidia, intel-gvt, mtty and accel (stand-in nodes, simulated drivers)', () => {
  const built: BuiltTree[] = [];
  const build = (spec: FleetNodeSpec): BuiltTree => {
    const b = buildNodeTree(spec);
    built.push(b);
    return b;
  };
  after(() => built.forEach((b) => b.tree.dispose()));

  it('fills each vendor\'s default type when the profile names none', () => {
    const types = (['nvidia', 'intel-gvt', 'mtty', 'accel'] as const).map((vendor) => gpuSpec.parse({ vendor }).typeId);
    expect(types).to.deep.equal(['nvidia-1012', 'i915-GVTg_V5_4', 'mtty-2', 'hisi_acc-qm']);
    expect(types).to.deep.equal(Object.values(DEFAULT_TYPE));
  });

  it('refuses an accel parameter that would break the driver\'s key=value string, naming the field', () => {
    expect(() => parseProfile({ groups: [{ gpus: [{ vendor: 'accel', params: { agg: '2;qp=1' } }] }] })).to.throw(/groups\.0\.gpus\.0\.params\.agg/);
    expect(() => parseProfile({ groups: [{ gpus: [{ vendor: 'mtty', streamVersion: '1' }] }] })).to.throw(/streamVersion/);
    expect(() => parseProfile({ groups: [{ gpus: [{ typeId: '../x' }] }] })).to.throw(/typeId/);
  });

  it('discovers one parent per vendor with its identity, type and devices, and no warnings', () => {
    const { tree, devices } = build(fourVendors('n-discover'));
    const inv = discover(tree.layout);
    expect(inv.warnings).to.deep.equal([]);
    const parents = new Map(inv.devices.map((d) => [d.type.id, d.parent]));
    expect(parents.get('nvidia-1012')).to.deep.equal({ address: gpuAddress(0), vendorId: '10de', deviceId: '2331', driver: 'nvidia' });
    expect(parents.get('i915-GVTg_V5_4')).to.deep.equal({ address: gpuAddress(1), vendorId: '8086', deviceId: '591d', driver: 'i915' });
    expect(parents.get('mtty-2')?.address).to.equal('mtty');
    expect(parents.get('hisi_acc-qm')).to.deep.equal({ address: gpuAddress(3), vendorId: '19e5', deviceId: 'a251', driver: 'hisi_acc_vfio_pci' });
    expect([...devices.keys()]).to.deep.equal([gpuAddress(0), gpuAddress(1), 'mtty', gpuAddress(3)]);
    expect(inv.devices.map((d) => d.id).sort()).to.deep.equal([...devices.values()].flat().sort());
  });

  it('gives each vendor the migration version its simulated driver writes', () => {
    const inv = discover(build(fourVendors('n-versions')).tree.layout);
    expect(versionOf(inv, 'nvidia-1012')).to.deep.equal(Array(2).fill('nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.90.07;vgpu=0x12'));
    expect(versionOf(inv, 'i915-GVTg_V5_4')).to.deep.equal(['8086-591d-GVTg_V5_4-00000003']);
    expect(versionOf(inv, 'mtty-2')).to.deep.equal(Array(2).fill(`mtty;magic=${MTTY_MAGIC};ver=1.1;ports=2`));
    expect(versionOf(inv, 'hisi_acc-qm')).to.deep.equal(Array(2).fill('accel;magic=v2;drv=2.3;dev=a251;qp=64;svc=sym+asym;agg=2'));
  });

  it('creates accel devices with their creation parameters, and only accel devices have any', () => {
    const inv = discover(build(fourVendors('n-params')).tree.layout);
    for (const d of inv.devices) {
      expect(d.creationParams, d.type.id).to.deep.equal(d.type.id === 'hisi_acc-qm' ? [{ key: 'qp', value: '64' }, { key: 'svc', value: 'sym+asym' }, { key: 'agg', value: '2' }] : []);
    }
    expect(creationParamsOf(gpuSpec.parse({ vendor: 'accel', params: { agg: '1' } }))).to.deep.equal([{ key: 'agg', value: '1' }]);
    expect(creationParamsOf(gpuSpec.parse({ vendor: 'accel' }))).to.deep.equal([]);
  });

  it('leaves exactly the spare instances creatable, mtty\'s from its shared port pool', () => {
    const inv = discover(build(fourVendors('n-capacity')).tree.layout);
    const spare = new Map(inv.capacity.map((c) => [c.type.id, c.availableInstances]));
    expect(Object.fromEntries(spare)).to.deep.equal({ 'nvidia-1012': 1, 'i915-GVTg_V5_4': 0, 'mtty-2': 3, 'hisi_acc-qm': 0 });
  });

  it('accel devices created with other parameters refuse each other\'s state; equal ones accept it', () => {
    const a = discover(build(fourVendors('n-accel-a')).tree.layout);
    const sameBuilt = build(fourVendors('n-accel-same'));
    const otherBuilt = build(fourVendors('n-accel-other', { ...ACCEL_PARAMS, agg: '1' }));
    const source = versionOf(a, 'hisi_acc-qm')[0] as string;
    const target = (b: BuiltTree): string => discover(b.tree.layout).devices.find((d) => d.type.id === 'hisi_acc-qm')?.attrPath as string;
    expect(new FakeSysfs(sameBuilt.tree).writeAttr(target(sameBuilt), source)).to.equal(source.length);
    const refusal = (() => {
      try {
        new FakeSysfs(otherBuilt.tree).writeAttr(target(otherBuilt), source);
        return undefined;
      } catch (err) {
        return err as SysfsError;
      }
    })();
    expect(refusal?.code).to.equal('EINVAL');
    expect(refusal?.detail).to.equal('agg 2 differs from local 1');
  });

  it('names a second mtty parent mtty1 and keeps PCI addresses by position for the others', () => {
    const mtty = gpuSpec.parse({ vendor: 'mtty' });
    const nv = gpuSpec.parse({});
    expect(parentNames([mtty, nv, mtty])).to.deep.equal(['mtty', gpuAddress(1), 'mtty1']);
  });

  it('names device-plugin resources by vendor', () => {
    expect(['nvidia', 'intel-gvt', 'mtty', 'accel'].map((vendor) => resourceNameOf(gpuSpec.parse({ vendor, typeName: 'A B' })))).to.deep.equal([
      'nvidia.com/A_B', 'intel.com/A_B', 'mdev.kernel.org/A_B', 'hisilicon.com/A_B',
    ]);
  });

  it('the built-in demo profile spans the four vendors', () => {
    const specs = expandProfile(parseProfile(DEMO_PROFILE), { prefix: 'p' });
    expect([...new Set(specs.flatMap((s) => s.gpus.map((g) => g.vendor)))].sort()).to.deep.equal(['accel', 'intel-gvt', 'mtty', 'nvidia']);
  });
});
