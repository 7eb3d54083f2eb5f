export { up, down, status, stopNodeKubeProxy, startNodeKubeProxy, stopComponent, startComponent, restartComponent, type LocalCluster, type Status, type UpOptions, type RestartableComponent, type ComponentOptions } from './cluster.ts';
export { ClusterError } from './errors.ts';
export { clusterPaths, binDir, VERSIONS, REPO_ROOT } from './paths.ts';
export { ensureBinaries } from './build.ts';
