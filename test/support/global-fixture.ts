// Mocha global fixture: one real local control plane per test run (`.localcluster/test-<pid>`,
// separate from the demo's), unless MDEV_TEST_KUBECONFIG points at one that is already running.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, down, up } from '../../dev/localcluster/index.ts';

// Component logs would bury mocha's report; tests that assert on logs capture them explicitly.
process.env.MDEV_LOG_LEVEL ??= 'error';

// One cluster per test process, so concurrent runs (several engineers, or CI beside a demo) never
// stop each other's control plane.
const name = process.env.MDEV_TEST_CLUSTER_NAME ?? `test-${process.pid}`;
let started = false;

async function setup(): Promise<void> {
  if (process.env.MDEV_TEST_KUBECONFIG || process.env.MDEV_TEST_NO_CLUSTER === '1') return;
  await sweepAbandonedClusters();
  const t0 = Date.now();
  const cluster = await up({ name, log: (l) => process.stderr.write(`${l}\n`) });
  started = true;
  process.env.MDEV_TEST_KUBECONFIG = cluster.kubeconfig;
  process.stderr.write(`[test] local control plane ready at ${cluster.server} in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
}

// Started at load (top-level await) rather than in mochaGlobalSetup, so test files may reach the
// cluster while mocha loads them (describe-time code), not only inside hooks.
await setup();

export async function mochaGlobalTeardown(): Promise<void> {
  if (started && process.env.MDEV_TEST_KEEP_CLUSTER !== '1') await down({ name, purge: true });
}

/** Stops clusters left by test runs that died before their teardown (their runner pid is gone). */
async function sweepAbandonedClusters(): Promise<void> {
  const entries = await readdir(join(REPO_ROOT, '.localcluster')).catch(() => [] as string[]);
  for (const entry of entries) {
    const pid = Number(/^test-(\d+)$/.exec(entry)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      await down({ name: entry, purge: true });
    }
  }
}
