// The nvml backend (the exec preset over helpers/nvml) with the REAL helper binary and its build
// over go-nvml's mock (the STAND-IN NVIDIA driver, fixture-driven): what the agent gets back for
// each answer of NVML, and the helper's refusals before NVML is touched.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nvmlBackend } from '../../../src/compat/nvml-backend.ts';
import type { DiscoveredDevice, TypeCapacity } from '../../../src/sysfs/inventory.ts';
import { nvmlHelperBinaries, type NvmlHelperBinaries } from '../../../dev/nvml/helper-binaries.ts';
import { writeNvmlFixture, type NvmlFixture } from '../../../dev/nvml/fixture.ts';

const GPU = '0000:41:00.0';
const RUNNING = '6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11';
const FREE = '0b3c7d1e-2a4f-4e6b-8c9d-0e1f2a3b4c5d';

function device(id: string): DiscoveredDevice {
  return {
    kind: 'mdev',
    id,
    parent: { address: GPU, vendorId: '10de', deviceId: '2331', driver: 'nvidia' },
    type: { id: 'nvidia-1012', name: 'GRID H100-4C', deviceApi: 'vfio-pci' },
    creationParams: [],
    sysfsPath: `/sys/devices/pci0000:40/${GPU}/${id}`,
  };
}

const slot: TypeCapacity = { parent: { address: GPU }, type: { id: 'nvidia-1012' }, availableInstances: 2 };

function gpu(hostDriver: string, vgpuRange: [number, number], instances: NvmlFixture['gpus'][number]['instances'] = []): NvmlFixture {
  return { gpus: [{ address: GPU, board: 'H100-PCIE-80GB', hostDriver, vgpuRange, instances }] };
}

describe('nvml backend: the NVML helper (real build, and its build over go-nvml\'s mock as a stand-in driver)', function () {
  this.timeout(180_000); // a cold first run builds the helper
  let bin: NvmlHelperBinaries;
  let dir: string;
  let n = 0;

  before(async () => {
    bin = await nvmlHelperBinaries();
    dir = mkdtempSync(path.join(os.tmpdir(), 'nvml-backend-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The mock helper over a host; `calls` collects the NVML calls each invocation made. */
  function host(f: NvmlFixture, env: Record<string, string> = {}) {
    const fixture = path.join(dir, `host-${++n}.json`);
    const calls = path.join(dir, `calls-${n}.log`);
    writeNvmlFixture(fixture, f);
    const backend = nvmlBackend({ helper: bin.mock, env: { MDEV_NVML_FIXTURE: fixture, MDEV_NVML_CALL_LOG: calls, ...env } });
    return { backend, calls: () => readFileSync(calls, 'utf8').trimEnd().split('\n') };
  }

  async function sourceVersion(): Promise<string> {
    const r = await host(gpu('550.54.15', [0x10, 0x13], [{ mdevUuid: RUNNING, type: 'nvidia-1012', guestDriver: '550.54.15', guestVgpuVersion: 0x12 }])).backend.readVersion(device(RUNNING));
    if (!r.migratable) throw new Error(r.reason);
    return r.version;
  }

  it('publishes a running vGPU as an Instance string and a free device or type slot as the GPU\'s Class key', async () => {
    const h = host(gpu('550.54.15', [0x10, 0x13], [{ mdevUuid: RUNNING, type: 'nvidia-1012', guestDriver: '550.54.15' }]));
    const running = await h.backend.readVersion(device(RUNNING));
    expect(running).to.include({ migratable: true, kind: 'Instance' });
    expect(running.migratable && running.version).to.match(/^nvml-vgpu\.1\.[A-Za-z0-9_-]+$/);
    const free = await h.backend.readVersion(device(FREE));
    expect(free).to.include({ migratable: true, kind: 'Class' });
    expect(free.migratable && free.version).to.match(/^nvml-pgpu\.1\.[A-Za-z0-9_-]+\.nvidia-1012$/);
    expect(await h.backend.readVersion(slot)).to.deep.equal(free);
    expect(h.backend.name).to.equal('nvml');
  });

  it('accepts iff nvmlGetVgpuCompatibility allows LIVE, and rejects with the limiting factor as EINVAL', async () => {
    const src = await sourceVersion();
    expect(await host(gpu('550.90.07', [0x10, 0x13])).backend.test(device(FREE), src)).to.deep.equal({
      accepted: true,
      reason: `NVML allows live migration to mdev ${FREE} on ${GPU} (compatibility LIVE, SLEEP, HIBERNATE, COLD)`,
    });
    const branch = await host(gpu('535.161.08', [0x10, 0x13])).backend.test(device(FREE), src);
    expect(branch).to.include({ accepted: false, errno: 'EINVAL' });
    expect(branch.reason).to.match(/^EINVAL: HOST_DRIVER: host driver branch differs \(source host 550\.54\.15, this host 535\.161\.08\)/);
    const range = await host(gpu('550.54.15', [0x10, 0x11])).backend.test(slot, src);
    expect(range.reason).to.match(/^EINVAL: GUEST_DRIVER: the VM's guest driver 550\.54\.15 negotiated vGPU version 0x12, outside the range 0x10-0x11/);
  });

  it('refuses a garbage source before any NVML call', async () => {
    const h = host(gpu('550.54.15', [0x10, 0x13]));
    const v = await h.backend.test(device(FREE), 'nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.54.15;vgpu=0x12');
    expect(v).to.deep.equal({ accepted: false, errno: 'EINVAL', reason: 'EINVAL: not an NVML vGPU metadata string: it does not start with "nvml-vgpu."' });
    expect(h.calls()).to.deep.equal(['']);
  });

  it('the real helper, without libnvidia-ml.so.1, answers read and test with the library-not-found reason', async () => {
    const src = await sourceVersion();
    const real = nvmlBackend({ helper: bin.helper, env: { MDEV_NVML_LIBRARY: '/nonexistent/libnvidia-ml.so.1' } });
    const why = '/nonexistent/libnvidia-ml.so.1 not found: run the agent with the NVIDIA container toolkit (runtimeClassName nvidia, NVIDIA_DRIVER_CAPABILITIES=utility) on a host with the NVIDIA vGPU Manager';
    expect(await real.readVersion(device(RUNNING))).to.deep.equal({ migratable: false, reason: why });
    expect(await real.test(device(FREE), src)).to.deep.equal({ accepted: false, errno: 'ENODEV', reason: `ENODEV: ${why}` });
  });

  it('ends a hung NVML call at the helper\'s deadline with the call\'s name, as an error rather than a verdict', async () => {
    const h = host({ ...gpu('550.54.15', [0x10, 0x13]), driver: { hang: 'nvmlDeviceGetVgpuMetadata' } }, { MDEV_NVML_DEADLINE: '200ms' });
    const r = await h.backend.readVersion(device(FREE));
    expect(r).to.deep.equal({
      migratable: false,
      reason: `vendor command exited with status 2 (error, not a verdict): ETIMEDOUT: nvmlDeviceGetVgpuMetadata did not return within 200ms for mdev ${FREE} on ${GPU}: the GPU or its driver is hung; check nvidia-smi and the kernel log on this host`,
    });
  });
});
