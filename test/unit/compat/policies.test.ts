import { expect } from 'chai';
import { accelConfig } from '../../../dev/fakes/policies/accel-config.ts';
import { gvtExact } from '../../../dev/fakes/policies/gvt-exact.ts';
import { MTTY_MAGIC, mttyStream } from '../../../dev/fakes/policies/mtty-stream.ts';
import { nvidiaBranch } from '../../../dev/fakes/policies/nvidia-branch.ts';
import type { AccelConfigConfig, Acceptance, GvtExactConfig, MttyStreamConfig, NvidiaBranchConfig, ParentConfig } from '../../../dev/fakes/policies/policy.ts';
import { policyAccept, policyVersion } from '../../../dev/fakes/policies/registry.ts';
import type { CreationParam } from '../../../src/sysfs/inventory.ts';

function refusal(a: Acceptance): { errno: string; reason: string } {
  if ('ok' in a) throw new Error('expected a refusal, got acceptance');
  return a;
}

describe('simulated vendor policies (stand-ins for the vendor drivers)', () => {
  describe('gvt-exact (i915 GVT-g)', () => {
    const gvt = (deviceId: string, softwareVersion = 1): ParentConfig<GvtExactConfig> =>
      ({ address: '0000:00:02.0', vendorId: '8086', deviceId, driver: 'i915', policy: { name: 'gvt-exact', softwareVersion } });
    const local = { parent: gvt('591d'), typeId: 'i915-GVTg_V5_4', creationParams: [] };

    it('formats the version as vendor-device-type-software version', () => {
      expect(gvtExact.version(gvt('591d'), 'i915-GVTg_V5_4', [])).to.equal('8086-591d-GVTg_V5_4-00000001');
    });

    it('accepts an identical string, ignoring one trailing newline', () => {
      expect(gvtExact.accept(local, '8086-591d-GVTg_V5_4-00000001')).to.deep.equal({ ok: true });
      expect(gvtExact.accept(local, '8086-591d-GVTg_V5_4-00000001\n')).to.deep.equal({ ok: true });
    });

    it('rejects another parent SKU (591d vs 5912) with EINVAL', () => {
      const r = refusal(gvtExact.accept(local, '8086-5912-GVTg_V5_4-00000001'));
      expect(r.errno).to.equal('EINVAL');
      expect(r.reason).to.include('physical device not matched');
    });

    it('rejects another software version and another type with EINVAL, naming the part', () => {
      expect(refusal(gvtExact.accept(local, '8086-591d-GVTg_V5_4-00000002')).reason).to.include('software version not matched');
      expect(refusal(gvtExact.accept(local, '8086-591d-GVTg_V5_8-00000001')).reason).to.include('vgpu type not matched');
      expect(refusal(gvtExact.accept(local, 'garbage')).reason).to.include('wrong format');
    });

    it('answers ENODEV to read and write on an unsupported platform', () => {
      const unsupported = { ...gvt('3e92'), policy: { name: 'gvt-exact' as const, supported: false } };
      expect(gvtExact.version(unsupported, 'i915-GVTg_V5_4', [])).to.have.property('errno', 'ENODEV');
      expect(refusal(gvtExact.accept({ ...local, parent: unsupported }, '8086-3e92-GVTg_V5_4-00000001')).errno).to.equal('ENODEV');
    });
  });

  describe('nvidia-branch (NVIDIA vGPU)', () => {
    const cfg: NvidiaBranchConfig = { name: 'nvidia-branch', board: 'H100-PCIE-80GB', hostDriver: '550.54.15', vgpuVersion: 0x12, vgpuRange: [0x10, 0x13] };
    const parent = (over: Partial<NvidiaBranchConfig> = {}): ParentConfig<NvidiaBranchConfig> => ({ address: '0000:41:00.4', vendorId: '10de', deviceId: '2331', policy: { ...cfg, ...over } });
    const local = (over: Partial<NvidiaBranchConfig> = {}) => ({ parent: parent(over), typeId: 'nvidia-1012', creationParams: [] });
    const src = (over: Partial<NvidiaBranchConfig> = {}) => nvidiaBranch.version(parent(over), 'nvidia-1012', []) as string;

    it('formats the version as in the design', () => {
      expect(src()).to.equal('nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.54.15;vgpu=0x12');
    });

    it('accepts the same board and branch, and a newer target driver in the branch', () => {
      expect(nvidiaBranch.accept(local(), src())).to.deep.equal({ ok: true });
      expect(nvidiaBranch.accept(local({ hostDriver: '550.90.07' }), src())).to.deep.equal({ ok: true });
    });

    it('rejects 80GB PCIe vs NVL boards (GPU)', () => {
      const r = refusal(nvidiaBranch.accept(local({ board: 'H100-NVL-94GB' }), src()));
      expect(r.errno).to.equal('EINVAL');
      expect(r.reason).to.match(/^GPU: board H100-PCIE-80GB differs/);
    });

    it('rejects another driver branch and an older target (HOST_DRIVER)', () => {
      expect(refusal(nvidiaBranch.accept(local({ hostDriver: '535.161.08' }), src())).reason).to.match(/^HOST_DRIVER: host driver branch differs/);
      expect(refusal(nvidiaBranch.accept(local({ hostDriver: '550.40.07' }), src())).reason).to.include('older than the source');
    });

    it('quotes the source driver version as written, leading zeros included (535.161.08, not 535.161.8)', () => {
      const older = src().replace('host=550.54.15', 'host=535.161.08');
      expect(refusal(nvidiaBranch.accept(local(), older)).reason).to.equal('HOST_DRIVER: host driver branch differs (source 535.161.08, local 550.54.15)');
      const newer = src().replace('host=550.54.15', 'host=550.90.07');
      expect(refusal(nvidiaBranch.accept(local(), newer)).reason).to.equal("HOST_DRIVER: local host driver 550.54.15 is older than the source's 550.90.07");
      expect(refusal(nvidiaBranch.accept(local({ hostDriver: '550.90.07', strict: true }), src())).reason).to.equal('HOST_DRIVER: host driver version differs (source 550.54.15, local 550.90.07; strict)');
    });

    it('in strict mode rejects any driver version difference', () => {
      expect(refusal(nvidiaBranch.accept(local({ hostDriver: '550.90.07', strict: true }), src())).reason).to.include('strict');
      expect(nvidiaBranch.accept(local({ strict: true }), src())).to.deep.equal({ ok: true });
    });

    it('rejects a source vGPU version outside the target range', () => {
      expect(refusal(nvidiaBranch.accept(local({ vgpuRange: [0x13, 0x15] }), src())).reason).to.include('outside the supported range [0x13, 0x15]');
      expect(nvidiaBranch.accept(local(), src({ vgpuVersion: 0x13 }))).to.deep.equal({ ok: true });
      expect(refusal(nvidiaBranch.accept(local(), src({ vgpuVersion: 0x14 }))).errno).to.equal('EINVAL');
    });

    it('rejects another type and malformed metadata', () => {
      expect(refusal(nvidiaBranch.accept({ ...local(), typeId: 'nvidia-1013' }, src())).reason).to.include('vGPU type');
      expect(refusal(nvidiaBranch.accept(local(), 'nv1;board=H100-PCIE-80GB;vgpu=zz')).reason).to.include('malformed');
    });
  });

  describe('mtty-stream (mtty sample stream header)', () => {
    const parent = (over: Partial<MttyStreamConfig> = {}): ParentConfig<MttyStreamConfig> => ({ address: 'mtty', policy: { name: 'mtty-stream', ...over } });
    const local = (typeId = 'mtty-2', over: Partial<MttyStreamConfig> = {}) => ({ parent: parent(over), typeId, creationParams: [] });

    it('formats the header and accepts the same version and port count', () => {
      const v = mttyStream.version(parent(), 'mtty-2', []) as string;
      expect(v).to.equal(`mtty;magic=${MTTY_MAGIC};ver=1.0;ports=2`);
      expect(mttyStream.accept(local(), v)).to.deep.equal({ ok: true });
    });

    it('rejects a minor version bump (1.0 vs 1.1) with EFAULT', () => {
      const r = refusal(mttyStream.accept(local('mtty-2', { streamVersion: '1.1' }), `mtty;magic=${MTTY_MAGIC};ver=1.0;ports=2`));
      expect(r.errno).to.equal('EFAULT');
      expect(r.reason).to.include('1.0 differs from local 1.1');
    });

    it('rejects another port count, flags and a bad magic with EFAULT', () => {
      expect(refusal(mttyStream.accept(local('mtty-1'), `mtty;magic=${MTTY_MAGIC};ver=1.0;ports=2`)).errno).to.equal('EFAULT');
      expect(refusal(mttyStream.accept(local(), `mtty;magic=${MTTY_MAGIC};ver=1.0;flags=1;ports=2`)).reason).to.include('flags');
      expect(refusal(mttyStream.accept(local(), 'mtty;magic=0;ver=1.0;ports=2')).reason).to.include('magic');
    });

    it('rejects a malformed header with EINVAL', () => {
      expect(refusal(mttyStream.accept(local(), 'mtty;ver=1')).errno).to.equal('EINVAL');
    });

    it('shares a 24-port pool between mtty-1 and mtty-2', () => {
      expect(mttyStream.available?.(parent(), 'mtty-1', new Map())).to.equal(24);
      expect(mttyStream.available?.(parent(), 'mtty-2', new Map())).to.equal(12);
      expect(mttyStream.available?.(parent(), 'mtty-1', new Map([['mtty-2', 3]]))).to.equal(18);
    });
  });

  describe('accel-config (accelerator VF with creation parameters)', () => {
    const parent = (over: Partial<AccelConfigConfig> = {}): ParentConfig<AccelConfigConfig> =>
      ({ address: '0000:3b:00.1', vendorId: '19e5', deviceId: 'a251', policy: { name: 'accel-config', driverVersion: '2.3', ...over } });
    const agg = (n: string): CreationParam[] => [{ key: 'qp', value: '64' }, { key: 'svc', value: 'sym+asym' }, { key: 'agg', value: n }];
    const src = (params: CreationParam[], over: Partial<AccelConfigConfig> = {}) => accelConfig.version(parent(over), 'hisi_acc-qm', params) as string;
    const local = (params: CreationParam[], over: Partial<AccelConfigConfig> = {}) => ({ parent: parent(over), typeId: 'hisi_acc-qm', creationParams: params });

    it('puts creation parameters into the version string', () => {
      expect(src(agg('2'))).to.equal('accel;magic=v2;drv=2.3;dev=a251;qp=64;svc=sym+asym;agg=2');
    });

    it('accepts the same configuration and a different driver minor', () => {
      expect(accelConfig.accept(local(agg('2')), src(agg('2')))).to.deep.equal({ ok: true });
      expect(accelConfig.accept(local(agg('2'), { driverVersion: '2.7' }), src(agg('2')))).to.deep.equal({ ok: true });
    });

    it('rejects the same type created with agg=1 vs agg=2, and another service set', () => {
      expect(refusal(accelConfig.accept(local(agg('1')), src(agg('2')))).reason).to.equal('agg 2 differs from local 1');
      const sym: CreationParam[] = [{ key: 'svc', value: 'sym' }, { key: 'agg', value: '2' }];
      expect(refusal(accelConfig.accept(local(agg('2')), src(sym))).reason).to.include('svc sym differs');
    });

    it('rejects a stale magic v0 and another driver major with EINVAL', () => {
      const stale = src(agg('2')).replace('magic=v2', 'magic=v0');
      const r = refusal(accelConfig.accept(local(agg('2')), stale));
      expect(r).to.deep.equal({ errno: 'EINVAL', reason: 'unknown migration magic v0 (expected v1 or v2)' });
      expect(refusal(accelConfig.accept(local(agg('2'), { driverVersion: '3.0' }), src(agg('2')))).reason).to.include('major');
    });

    it('uses the last value of a repeated key, as mdevctl applies attrs in order', () => {
      expect(src([{ key: 'agg', value: '1' }, { key: 'agg', value: '4' }])).to.include('agg=4');
    });
  });

  it('dispatches by policy name in the registry', () => {
    const p: ParentConfig = { address: 'mtty', policy: { name: 'mtty-stream' } };
    const v = policyVersion(p, 'mtty-1', []);
    expect(v).to.equal(`mtty;magic=${MTTY_MAGIC};ver=1.0;ports=1`);
    expect(policyAccept({ parent: p, typeId: 'mtty-1', creationParams: [] }, v as string)).to.deep.equal({ ok: true });
  });
});
