// Builds (or reuses) the control-plane binaries by running scripts/build-control-plane.sh, whose
// progress goes straight to the user's terminal: a cold build takes many minutes.
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, VERSIONS, binDir } from './paths.ts';
import { ClusterError } from './errors.ts';

export const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'helm'] as const;
export type Binary = (typeof BINARIES)[number];

export function binaryPath(name: Binary): string {
  return join(binDir(), name);
}

async function allPresent(): Promise<boolean> {
  try {
    await Promise.all(BINARIES.map((b) => access(binaryPath(b), constants.X_OK)));
    return true;
  } catch {
    return false;
  }
}

export async function ensureBinaries(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<string> {
  if (await allPresent()) return binDir();
  log(`[control-plane] building Kubernetes ${VERSIONS.kubernetes}, etcd ${VERSIONS.etcd} and helm ${VERSIONS.helm} from the Go module proxy (first run only)`);
  const { code, error } = await runBuildScript('build-control-plane.sh', 'control-plane');
  if (code !== 0 || !(await allPresent())) {
    throw new ClusterError(
      `building the control plane failed${error ? `: ${error}` : ''}`,
      'follow the advice in that message (the [control-plane] lines above show the failing step); `npm run cluster:build` retries the build alone',
    );
  }
  return binDir();
}

/** Runs a build script with its progress on our stderr, keeping its last `[tag] ERROR:` line for the error. */
export function runBuildScript(script: string, tag: string): Promise<{ code: number; error?: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [join(REPO_ROOT, 'scripts', script), 'all'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env, MDEV_K8S_VERSION: VERSIONS.kubernetes, MDEV_ETCD_VERSION: VERSIONS.etcd, MDEV_HELM_VERSION: VERSIONS.helm,
        MDEV_CONTAINERD_VERSION: VERSIONS.containerd, MDEV_RUNC_VERSION: VERSIONS.runc, MDEV_NODE_DEBIAN: VERSIONS.debian,
      },
    });
    let error: string | undefined;
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      const found = new RegExp(`\\[${tag}\\] ERROR: (.*)`).exec(chunk.toString('utf8'));
      if (found) error = found[1];
    });
    child.on('error', reject);
    child.on('close', (c) => resolvePromise({ code: c ?? 1, error }));
  });
}
