// The NVML helper's binaries for a checkout: scripts/build-nvml-helper.sh builds helpers/nvml into
// a cache keyed by its sources (a warm call only hashes them) and prints the directory. The mock
// build is the helper over go-nvml's mock driven by a JSON fixture (dev/nvml/fixture.ts); it
// exists only here, never in the image.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../localcluster/paths.ts';

export interface NvmlHelperBinaries {
  /** The shipped helper: real NVML through dlopen of libnvidia-ml.so.1. */
  helper: string;
  /** The same helper over the STAND-IN driver (MDEV_NVML_FIXTURE names its fixture). */
  mock: string;
  /** The helper called in a loop in one process over the STAND-IN driver (bench/nvml.ts). */
  bench: string;
}

let built: Promise<NvmlHelperBinaries> | undefined;

/** Builds (first call of a process, cached on disk across runs) and returns the binaries. */
export function nvmlHelperBinaries(): Promise<NvmlHelperBinaries> {
  built ??= build().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}

function build(): Promise<NvmlHelperBinaries> {
  const script = join(REPO_ROOT, 'scripts', 'build-nvml-helper.sh');
  return new Promise((resolve, reject) => {
    // The script's progress goes to our stderr: a cold build (fetching go-nvml) takes a while.
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => void (stdout += chunk));
    child.on('error', (err) => reject(new Error(`building the NVML helper failed (bash scripts/build-nvml-helper.sh): ${err.message}`)));
    child.on('close', (code) => {
      const dir = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || dir === '') {
        reject(new Error(`building the NVML helper failed (bash scripts/build-nvml-helper.sh exited ${code}; its output is above)`));
        return;
      }
      resolve({ helper: join(dir, 'mdev-nvml-helper'), mock: join(dir, 'mdev-nvml-helper-mock'), bench: join(dir, 'mdev-nvml-bench') });
    });
  });
}
