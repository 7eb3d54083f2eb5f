// Where the local control plane lives: binaries in the user's cache (shared by every checkout,
// keyed by version), cluster state in the checkout's .localcluster/ (git-ignored).
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VERSIONS = {
  kubernetes: process.env.MDEV_K8S_VERSION ?? '1.36.3',
  etcd: process.env.MDEV_ETCD_VERSION ?? '3.6.13',
  helm: process.env.MDEV_HELM_VERSION ?? '3.22.0',
  /** Built beside the others (stamped, not in the directory key): the krew packaging test installs with it. */
  krew: process.env.MDEV_KREW_VERSION ?? '0.4.3',
  containerd: process.env.MDEV_CONTAINERD_VERSION ?? '2.4.2',
  runc: process.env.MDEV_RUNC_VERSION ?? '1.5.3',
  debian: process.env.MDEV_NODE_DEBIAN ?? 'bookworm',
} as const;

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export function cacheRoot(): string {
  return process.env.MDEV_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'mdev-operator');
}

export function binDir(): string {
  const key = `k8s-${VERSIONS.kubernetes}_etcd-${VERSIONS.etcd}_helm-${VERSIONS.helm}`;
  return join(cacheRoot(), 'control-plane', key, 'bin');
}

/** The real node's components (scripts/build-node.sh), keyed like the control plane's. */
export function nodeToolsDir(): string {
  const key = `k8s-${VERSIONS.kubernetes}_containerd-${VERSIONS.containerd}_runc-${VERSIONS.runc}_deb-${VERSIONS.debian}`;
  return join(cacheRoot(), 'node', key);
}

export interface ClusterPaths {
  root: string;
  pki: string;
  data: string;
  logs: string;
  kubeconfig: string;
  state: string;
  tokens: string;
}

/** `name` separates clusters in one checkout: `default` for the demo, `test` for the test suite. */
export function clusterPaths(name = 'default'): ClusterPaths {
  const root = name === 'default' ? join(REPO_ROOT, '.localcluster') : join(REPO_ROOT, '.localcluster', name);
  return {
    root,
    pki: join(root, 'pki'),
    data: join(root, 'data'),
    logs: join(root, 'logs'),
    kubeconfig: join(root, 'kubeconfig'),
    state: join(root, 'state.json'),
    tokens: join(root, 'tokens.csv'),
  };
}
