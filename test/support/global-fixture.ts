// Mocha global fixture: one real local control plane per test run (the `test` cluster, separate
// from the demo's), unless MDEV_TEST_KUBECONFIG points at one that is already running.
import { down, up } from '../../src/localcluster/index.ts';

let started = false;

export async function mochaGlobalSetup(): Promise<void> {
  if (process.env.MDEV_TEST_KUBECONFIG || process.env.MDEV_TEST_NO_CLUSTER === '1') return;
  const t0 = Date.now();
  const cluster = await up({ name: 'test', log: (l) => process.stderr.write(`${l}\n`) });
  started = true;
  process.env.MDEV_TEST_KUBECONFIG = cluster.kubeconfig;
  process.stderr.write(`[test] local control plane ready at ${cluster.server} in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
}

export async function mochaGlobalTeardown(): Promise<void> {
  if (started && process.env.MDEV_TEST_KEEP_CLUSTER !== '1') await down({ name: 'test' });
}
