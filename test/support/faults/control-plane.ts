// Fault injection on the local control plane: restart kube-apiserver or etcd of the cluster the
// tests run against — but only a cluster this test process may disturb: the mocha process's own
// (`.localcluster/test-<pid>`, or MDEV_TEST_CLUSTER_NAME) or one listed in MDEV_FAULTS_RESTARTABLE
// (comma-separated names, e.g. `faultdev` while iterating). Anything else is refused by name.
import { basename, dirname, join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../../../src/kube/request.ts';
import { REPO_ROOT, restartComponent, startComponent, stopComponent, type RestartableComponent } from '../../../dev/localcluster/index.ts';
import { kubectl, testKubeconfigPath } from '../cluster.ts';
import { poll } from '../poll.ts';

/** The name of the test cluster, after checking that this process may restart its components. */
export function restartableClusterName(): string {
  const kubeconfig = resolve(testKubeconfigPath());
  const name = basename(dirname(kubeconfig));
  const ours = join(REPO_ROOT, '.localcluster', name, 'kubeconfig');
  const allowed = new Set([process.env.MDEV_TEST_CLUSTER_NAME ?? `test-${process.pid}`, ...(process.env.MDEV_FAULTS_RESTARTABLE ?? '').split(',').filter(Boolean)]);
  if (kubeconfig !== ours || !allowed.has(name)) {
    throw new Error(
      `refusing to restart components of the cluster behind ${kubeconfig}: it is not this test run's own cluster. ` +
        'Run the fault tests without MDEV_TEST_KUBECONFIG (the fixture starts a private cluster), or list the cluster name in MDEV_FAULTS_RESTARTABLE',
    );
  }
  return name;
}

/** Restarts one component (same ports and data), keeping it down `downMs`, then waits for /readyz. */
export async function restartControlPlane(component: RestartableComponent, downMs = 0): Promise<void> {
  const name = restartableClusterName();
  await restartComponent(component, { name, downMs });
  await waitReady();
}

/** Waits until the API server answers /readyz with ok (it may lag etcd coming back). */
export async function waitReady(timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await kubectl(['get', '--raw', '/readyz'], { timeoutMs: 5_000 });
    if (r.code === 0 && r.stdout.trim() === 'ok') return;
    if (Date.now() > deadline) throw new Error(`the API server was not ready within ${timeoutMs / 1000}s: ${r.stderr || r.stdout}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** SIGKILLs one component of this test run's cluster (no SIGTERM, nothing drained); resolves once it is gone. */
export async function crashComponent(component: RestartableComponent): Promise<void> {
  await stopComponent(component, { name: restartableClusterName(), graceMs: 0 });
}

/** Starts a crashed component again on its ports and data; resolves once it answers its own health check. */
export async function reviveComponent(component: RestartableComponent): Promise<void> {
  await startComponent(component, { name: restartableClusterName() });
}

/**
 * Asks /readyz every 100 ms, in this process (the clock the controller under test reads too), and
 * returns Date.now() at the first `ok`: the moment this observer saw the API server ready.
 */
export function readyzOkAt(kc: KubeConfig, timeoutMs = 120_000): Promise<number> {
  return poll('the API server to be ready after the outage', async () => {
    const ok = await kubeRequest(kc, { method: 'GET', path: '/readyz', responseType: 'text', signal: AbortSignal.timeout(2_000) }).then((t) => t === 'ok', () => false);
    return ok ? Date.now() : undefined;
  }, timeoutMs);
}

/** One object the writes-accepted check annotates: its API path (a merge patch of metadata goes there). */
export interface WriteTarget {
  what: string;
  path: string;
}

/**
 * Returns Date.now() at the moment every target has accepted one write (a merge patch of an
 * annotation on its metadata). A new attempt per target starts every 250 ms, overlapping the ones
 * still out (a write sent while the API server's storage cannot reach etcd is held, not refused;
 * each is given up after 2 s), so the moment is known to within about 250 ms. After an etcd outage
 * the API server can answer /readyz ok while its writes still fail or hang: here /readyz came
 * 46.9 s after the kill and Lease writes first succeeded 25 s later. No client can write before
 * this moment, so it is the floor a recovery is judged from, measured in the same run.
 */
export function writesAcceptedAt(kc: KubeConfig, targets: readonly WriteTarget[], timeoutMs = 120_000): Promise<number> {
  const accepted = new Map<string, number>();
  let attempts = 0;
  const attempt = async (t: WriteTarget): Promise<void> => {
    // A new value each time, so every attempt is a real write, not a no-op patch.
    const body = { metadata: { annotations: { 'test.mdev-operator.io/writable': String(++attempts) } } };
    const ok = await kubeRequest(kc, { method: 'PATCH', path: t.path, body, contentType: 'application/merge-patch+json', signal: AbortSignal.timeout(2_000) }).then(() => true, () => false);
    // The measurement itself (not a wait): this process's clock, which readyzOkAt and the controller
    // under test read too.
    if (ok && !accepted.has(t.what)) accepted.set(t.what, Date.now());
  };
  return poll(`the API server to accept writes to ${targets.map((t) => t.what).join(', ')} after the outage`, async () => {
    for (const t of targets) if (!accepted.has(t.what)) void attempt(t);
    return accepted.size === targets.length ? Math.max(...accepted.values()) : undefined;
  }, timeoutMs, 250);
}
