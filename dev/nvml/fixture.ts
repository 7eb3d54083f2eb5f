// The JSON fixture of the STAND-IN NVIDIA driver (helpers/nvml/internal/fixture, read by
// mdev-nvml-helper-mock from MDEV_NVML_FIXTURE): a host's GPUs and the vGPUs running on them.
// The Go side refuses unknown fields, so these types and fixture.go stay in step.
import { writeFileSync, renameSync } from 'node:fs';

export interface NvmlFixtureInstance {
  mdevUuid: string;
  /** The mdev type the vGPU was created with (`nvidia-1012`). */
  type: string;
  /** The VM's guest driver; absent = it has not reported yet (guestInfoState UNINITIALIZED). */
  guestDriver?: string;
  /** The vGPU version the guest negotiated (kept across migrations); default the GPU's range maximum. */
  guestVgpuVersion?: number;
  migration?: boolean;
}

export interface NvmlFixtureGpu {
  address: string;
  board: string;
  hostDriver: string;
  vgpuRange: [number, number];
  vgpuManager?: boolean;
  migration?: boolean;
  instances?: NvmlFixtureInstance[];
}

export interface NvmlFixture {
  driver?: { state?: 'ok' | 'absent' | 'not-loaded' | 'no-permission'; version?: string; missingSymbols?: string[]; hang?: string };
  gpus: NvmlFixtureGpu[];
}

/** Writes a fixture atomically, so a helper starting meanwhile reads the old or the new host, never half. */
export function writeNvmlFixture(path: string, fixture: NvmlFixture): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(fixture, null, 2)}\n`);
  renameSync(tmp, path);
}
