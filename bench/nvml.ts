// NVML helper suite: the `nvml` backend's cost per call, with the helper over go-nvml's mock (the
// STAND-IN NVIDIA driver; no GPU here). Per call: what the agent runs (ExecBackend spawns the
// helper, which loads NVML, answers and exits), so every call starts NVML anew. In one process:
// the same helper code called in a loop with NVML initialised once, i.e. the best a persistent
// helper behind a line protocol could do. The difference is the per-call start cost that decides
// docs/adr/0009-nvml-helper-per-call-process.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { nvmlBackend } from '../src/compat/nvml-backend.ts';
import type { DiscoveredDevice } from '../src/sysfs/inventory.ts';
import { nvmlHelperBinaries, type NvmlHelperBinaries } from '../dev/nvml/helper-binaries.ts';
import { writeNvmlFixture } from '../dev/nvml/fixture.ts';
import { measure, summarize, type Summary } from './stats.ts';
import type { Result, Suite, SuiteContext } from './report/types.ts';

const GPU = '0000:41:00.0';
const RUNNING = '6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11';
const FREE = '0b3c7d1e-2a4f-4e6b-8c9d-0e1f2a3b4c5d';

export interface NvmlBenchOptions {
  /** Calls per per-call-process series (each spawns the helper). */
  processCalls: number;
  /** Calls per in-process series. */
  inProcessCalls: number;
}

export const DEFAULT_NVML_OPTIONS: NvmlBenchOptions = { processCalls: 300, inProcessCalls: 5000 };

function device(id: string): DiscoveredDevice {
  return {
    kind: 'mdev', id, creationParams: [],
    parent: { address: GPU, vendorId: '10de', deviceId: '2331', driver: 'nvidia' },
    type: { id: 'nvidia-1012', name: 'GRID H100-4C', deviceApi: 'vfio-pci' },
    sysfsPath: `/sys/devices/pci0000:40/${GPU}/${id}`,
  };
}

/** The helper in one process: per-call nanoseconds from mdev-nvml-bench, as milliseconds. */
function inProcess(bin: NvmlHelperBinaries, fixture: string, n: number, mode: 'read' | 'test', subject: DiscoveredDevice, stdin = ''): Promise<Summary> {
  const json = JSON.stringify({ subject: 'device', ...subject });
  return new Promise((resolve, reject) => {
    const child = execFile(bin.bench, [String(n), mode, json], { env: { ...process.env, MDEV_NVML_FIXTURE: fixture }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`mdev-nvml-bench ${mode}: ${stderr.trim() || err.message}`));
      resolve(summarize((JSON.parse(stdout) as { ns: number[] }).ns.map((ns) => ns / 1e6)));
    });
    child.stdin?.end(stdin);
  });
}

function row(id: string, label: string, s: Summary): Result {
  return { id, label, unit: 'ms', median: round(s.median), p99: round(s.p99), samples: s.n };
}

function round(ms: number): number {
  return ms < 1 ? Math.round(ms * 1000) / 1000 : Math.round(ms * 100) / 100;
}

export async function benchNvml(ctx: SuiteContext, opts: NvmlBenchOptions = DEFAULT_NVML_OPTIONS): Promise<Result[]> {
  const bin = await nvmlHelperBinaries();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-nvml-'));
  try {
    const fixture = path.join(dir, 'host.json');
    writeNvmlFixture(fixture, {
      gpus: [{ address: GPU, board: 'H100-PCIE-80GB', hostDriver: '550.90.07', vgpuRange: [0x10, 0x13], instances: [{ mdevUuid: RUNNING, type: 'nvidia-1012', guestDriver: '550.90.07', guestVgpuVersion: 0x12 }] }],
    });
    const backend = nvmlBackend({ helper: bin.mock, env: { MDEV_NVML_FIXTURE: fixture } });
    const first = performance.now();
    const src = await backend.readVersion(device(RUNNING));
    const firstMs = performance.now() - first;
    if (!src.migratable) throw new Error(`the mock helper could not read the running vGPU: ${src.reason}`);
    const n = { warmup: 10, iterations: opts.processCalls };
    ctx.log(`nvml: ${opts.processCalls} per-call-process reads and tests`);
    const read = await measure(async () => {
      const r = await backend.readVersion(device(RUNNING));
      if (!r.migratable) throw new Error(r.reason);
    }, n);
    const test = await measure(async () => {
      const v = await backend.test(device(FREE), src.version);
      if (!v.accepted) throw new Error(v.reason);
    }, n);
    const missing = nvmlBackend({ helper: bin.helper, env: { MDEV_NVML_LIBRARY: path.join(dir, 'no-such-libnvidia-ml.so.1') } });
    const start = await measure(async () => {
      const r = await missing.readVersion(device(RUNNING));
      if (r.migratable) throw new Error('read without NVML succeeded');
    }, n);
    ctx.log(`nvml: ${opts.inProcessCalls} in-process reads and tests`);
    const warmRead = await inProcess(bin, fixture, opts.inProcessCalls, 'read', device(RUNNING));
    const warmTest = await inProcess(bin, fixture, opts.inProcessCalls, 'test', device(FREE), src.version);
    return [
      { id: 'first-call', label: 'First read of this run (per-call process, binary possibly not in the page cache)', unit: 'ms', value: round(firstMs) },
      row('read-per-call', 'read, per-call process (as shipped): spawn, NVML init, nvmlVgpuInstanceGetMetadata, exit', read),
      row('test-per-call', 'test, per-call process (as shipped): spawn, NVML init, nvmlGetVgpuCompatibility, exit', test),
      row('start-no-nvml', 'Process start alone: the real helper where libnvidia-ml.so.1 is missing (dlopen fails)', start),
      row('read-in-process', 'read in one warm process (NVML initialised once): a persistent helper\'s best case', warmRead),
      row('test-in-process', 'test in one warm process (NVML initialised once): a persistent helper\'s best case', warmTest),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const suite: Suite = {
  name: 'nvml',
  title: 'NVML helper (per call, mock NVML)',
  needsCluster: false,
  about: [
    'The `nvml` backend\'s helper (helpers/nvml) over go-nvml\'s mock as a stand-in NVIDIA driver, driven by a one-GPU',
    'fixture with one running vGPU. *Per-call process* is what the agent runs: the exec backend spawns the helper, which',
    'loads NVML, answers one `read` or `test` and exits (timed from the agent\'s side, Node spawn included). *Process',
    'start alone* is the real helper on a host without libnvidia-ml.so.1. *One warm process* calls the same helper code in',
    'a loop with NVML initialised once: what a persistent helper behind a line protocol could reach at best. The mock',
    'initialises in microseconds; a real driver\'s nvmlInit is not measured here (no GPU).',
  ].join('\n'),
  planned: ['read and test latency median and p99: per-call process (as shipped) and in one warm process'],
  run: (ctx) => benchNvml(ctx),
};
