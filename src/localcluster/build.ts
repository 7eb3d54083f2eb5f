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
  const code = await new Promise<number>((resolvePromise, reject) => {
    const child = spawn('bash', [join(REPO_ROOT, 'scripts/build-control-plane.sh'), 'all'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, MDEV_K8S_VERSION: VERSIONS.kubernetes, MDEV_ETCD_VERSION: VERSIONS.etcd, MDEV_HELM_VERSION: VERSIONS.helm },
    });
    child.on('error', reject);
    child.on('exit', (c) => resolvePromise(c ?? 1));
  });
  if (code !== 0 || !(await allPresent())) {
    throw new ClusterError(
      'building the control plane failed',
      'read the [control-plane] lines above for the failing step; run `npm run cluster:build` to retry',
    );
  }
  return binDir();
}
