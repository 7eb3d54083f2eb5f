// Mocha global fixture of `npm run e2e`: builds the product image (no container engine), starts a
// local cluster with ONE real node (`.localcluster/e2e-<pid>`, root only: one per machine), and
// imports the image into the node's containerd. The host's state is captured first, so the last
// test file can prove that `down` leaves nothing behind.
import { rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage } from '../../../dev/image/build-image.ts';
import { loadImage } from '../../../dev/image/load-image.ts';
import { down, REPO_ROOT, up } from '../../../dev/localcluster/index.ts';
import { hostSnapshot } from '../../../dev/localcluster/node/host-snapshot.ts';

process.env.MDEV_LOG_LEVEL ??= 'error';

if (process.getuid?.() !== 0) {
  process.stderr.write('[e2e] ERROR: the end-to-end tests run a real kubelet, containerd and kube-proxy, which need root. Fix: run `npm run e2e` as root (e.g. sudo -E npm run e2e)\n');
  process.exit(1);
}

export const E2E_CLUSTER = process.env.MDEV_E2E_CLUSTER_NAME ?? `e2e-${process.pid}`;
/** Where the host snapshot taken before the node started is kept for teardown.test.ts. */
export const BEFORE_SNAPSHOT = join(REPO_ROOT, '.localcluster', `${E2E_CLUSTER}.host-before.json`);

let started = false;

/** Stops e2e clusters whose runner died before its teardown (their real node would block ours). */
async function sweepAbandoned(): Promise<void> {
  for (const entry of await readdir(join(REPO_ROOT, '.localcluster')).catch(() => [] as string[])) {
    const pid = Number(/^e2e-(\d+)$/.exec(entry)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      await down({ name: entry, purge: true });
      rmSync(join(REPO_ROOT, '.localcluster', `${entry}.host-before.json`), { force: true });
    }
  }
}

async function setup(): Promise<void> {
  await sweepAbandoned();
  const t0 = Date.now();
  const archive = await buildImage();
  const t1 = Date.now();
  writeFileSync(BEFORE_SNAPSHOT, JSON.stringify(await hostSnapshot()));
  const cluster = await up({ name: E2E_CLUSTER, nodes: 1 });
  started = true;
  const t2 = Date.now();
  await loadImage(archive);
  process.env.MDEV_TEST_KUBECONFIG = cluster.kubeconfig;
  process.env.MDEV_E2E_IMAGE_ARCHIVE = archive;
  process.stderr.write(`[e2e] image built in ${((t1 - t0) / 1000).toFixed(1)}s; cluster with a real node up in ${((t2 - t1) / 1000).toFixed(1)}s; image loaded in ${((Date.now() - t2) / 1000).toFixed(1)}s\n`);
}

await setup().catch(async (err: unknown) => {
  process.stderr.write(`[e2e] ERROR: ${(err as Error).message}\n`);
  if (started) await down({ name: E2E_CLUSTER, purge: true }).catch(() => undefined);
  process.exit(1);
});

/** teardown.test.ts stops the cluster itself (and checks the host); this catches an early exit. */
export async function mochaGlobalTeardown(): Promise<void> {
  if (process.env.MDEV_TEST_KEEP_CLUSTER !== '1') await down({ name: E2E_CLUSTER, purge: true });
}
