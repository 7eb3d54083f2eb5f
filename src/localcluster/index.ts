export { up, down, status, binaryFor, type LocalCluster, type Status, type UpOptions } from './cluster.ts';
export { ClusterError } from './errors.ts';
export { clusterPaths, binDir, VERSIONS, REPO_ROOT } from './paths.ts';
export { ensureBinaries } from './build.ts';
