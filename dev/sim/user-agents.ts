// How the stand-ins and the benchmark harness name themselves to the API server (the audit log's
// userAgent), next to the operator's own components (src/kube/user-agent.ts): a benchmark counts
// each one's requests apart, so the operator's cost is not mixed with what a stand-in spends.
export const STANDIN_USER_AGENTS = {
  /** The simulated fleet itself: Nodes, kubelet stand-in (launcher pods), VMs it starts. */
  fleet: 'mdev-standin-fleet/0.1.0',
  /** The KubeVirt stand-in (virt-controller/virt-handler's part in a migration). */
  kubevirt: 'mdev-standin-kubevirt/0.1.0',
  /** A benchmark's own driver (creating MdevMigrations, watching for results). */
  bench: 'mdev-bench/0.1.0',
  /** The benchmark's floor: the null controller, and bare clients doing an agent's writes. */
  floor: 'mdev-bench-floor/0.1.0',
} as const;
