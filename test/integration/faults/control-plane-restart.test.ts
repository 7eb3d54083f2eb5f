// Faults in the REAL local control plane: kube-apiserver and etcd restarted under a running
// informer, a STAND-IN node running the real agent, and a controller. Only the test process's own
// cluster is ever restarted (test/support/faults/control-plane.ts); every test waits for /readyz
// before it ends, so the test files that follow find a healthy API server.
import { expect } from 'chai';
import { z } from 'zod';
import { informerFor, type Informer, type WatchEndReason } from '../../../src/kube/informer.ts';
import type { ListWatchSource } from '../../../src/kube/list-watch.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { startComponent, stopComponent } from '../../../dev/localcluster/index.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { restartableClusterName, restartControlPlane, waitReady } from '../../support/faults/control-plane.ts';
import { expectInvariants } from '../../support/faults/invariants.ts';
import { eventually, FaultWorld, h100 } from '../../support/faults/world.ts';

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };
const Cm = z.object({ metadata: z.object({ name: z.string(), namespace: z.string() }), data: z.record(z.string(), z.string()).optional() });
type Cm = z.infer<typeof Cm>;

/** Holds the informer's LIST and WATCH calls while closed: "the informer is not watching now". */
function gate() {
  let open = true;
  let waiters: Array<() => void> = [];
  let watchesOpened = 0;
  const pass = (): Promise<void> => (open ? Promise.resolve() : new Promise((r) => waiters.push(r)));
  return {
    close: () => (open = false),
    open: () => {
      open = true;
      for (const w of waiters.splice(0)) w();
      waiters = [];
    },
    wrap: (real: ListWatchSource): ListWatchSource => ({
      list: async (signal, decode) => (await pass(), real.list(signal, decode)),
      watch: async (rv, onEvent, onDone) => {
        await pass();
        const handle = await real.watch(rv, onEvent, onDone);
        watchesOpened++;
        return handle;
      },
    }),
    watchesOpened: () => watchesOpened,
  };
}

describe('faults: control-plane restarts (real kube-apiserver and etcd)', function () {
  this.timeout(180_000);
  const kc = testKubeConfig();
  let ns: string;
  const informers: Informer<Cm>[] = [];
  let world: FaultWorld | undefined;

  const cm = (name: string, value: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels: { faults: 'cm' } }, data: { v: value } });
  const post = (name: string, value: string) => kubeRequest(kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/configmaps`, body: cm(name, value) });

  before(async () => {
    restartableClusterName(); // refuse early, by name, if this is not our cluster
    ns = uniqueName('faults-cp');
    await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  });

  afterEach(async () => {
    await waitReady();
    await Promise.all(informers.splice(0).map((i) => i.stop()));
  });

  after(async () => {
    await waitReady();
    await world?.stop();
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
  });

  function startInformer(wrap?: (s: ListWatchSource) => ListWatchSource, ends: WatchEndReason[] = []): Informer<Cm> {
    const informer = informerFor(kc, {
      resource: CONFIGMAPS, namespace: ns, labelSelector: 'faults=cm', name: uniqueName('faults-cm'), parse: (o) => Cm.safeParse(o).data,
      backoff: { initialMs: 200, maxMs: 2_000 }, wrapSource: wrap, onWatchEnd: (r) => ends.push(r),
    });
    informers.push(informer);
    informer.start();
    return informer;
  }

  it('kube-apiserver restarted mid-watch: the informer relists and sees an add and a delete made while it was not watching', async () => {
    await post('kept', '1');
    await post('doomed', '1');
    const g = gate();
    const ends: WatchEndReason[] = [];
    const informer = startInformer(g.wrap, ends);
    await informer.waitForSync();
    expect(informer.keys().sort()).to.deep.equal([`${ns}/doomed`, `${ns}/kept`]);

    await eventually('the first watch to be open', async () => (g.watchesOpened() > 0 ? true : undefined));
    g.close();
    const name = restartableClusterName();
    try {
      await stopComponent('kube-apiserver', { name, graceMs: 0 }); // a crash: no graceful drain
      await eventually('the watch to end when kube-apiserver went away', async () => (ends.length > 0 ? true : undefined));
    } finally {
      await startComponent('kube-apiserver', { name });
    }
    await waitReady();
    await post('while-down', '2');
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}/configmaps/doomed` });
    g.open();

    await eventually('the informer to catch up after the restart', async () =>
      informer.get(`${ns}/while-down`) && !informer.get(`${ns}/doomed`) ? true : undefined);
    expect(ends[0]).to.be.oneOf(['error', 'closed', 'gone']);
    await post('after', '3');
    await eventually('an event on the rebuilt watch', async () => (informer.get(`${ns}/after`) ? true : undefined));
    expect(informer.keys().sort()).to.deep.equal([`${ns}/after`, `${ns}/kept`, `${ns}/while-down`]);
  });

  it('etcd restarted: writes fail while it is down, and the informer sees the writes made once it is back', async () => {
    const informer = startInformer();
    await informer.waitForSync();
    const name = restartableClusterName();
    let refused = false;
    try {
      await stopComponent('etcd', { name });
      await kubeRequest(kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/configmaps`, body: cm('no-etcd', '0'), signal: AbortSignal.timeout(10_000) });
    } catch {
      refused = true;
    } finally {
      await startComponent('etcd', { name });
    }
    await waitReady();
    expect(refused, 'a write without etcd must not succeed').to.equal(true);
    await eventually('a write after etcd returned', async () => ((await post('after-etcd', '1').then(() => true, () => undefined))));
    await eventually('the informer to see it', async () => (informer.get(`${ns}/after-etcd`) ? true : undefined), 60_000);
  });

  it('kube-apiserver restarted under an agent (stand-in node) and a controller: probes are answered, a migration succeeds, invariants hold', async () => {
    world = await FaultWorld.start({
      kc, prefix: 'fcp',
      nodes: [{ suffix: 'src', gpus: [h100('550.54.15')] }, { suffix: 'dst', gpus: [h100('550.90.07')] }],
    });
    await world.startController();
    const before = await world.devicesOf(world.node('dst'));
    await world.fleet.startVm({ namespace: world.ns, name: 'vm-cp', node: world.node('src') });

    await restartControlPlane('kube-apiserver', 2_000);

    const version = before[0]?.status?.migrationVersion as string;
    const probe = await world.createProbe(world.node('dst'), version);
    const answered = await world.answered(probe, 60_000);
    expect(answered.status?.results?.every((r) => r.accepted)).to.equal(true);
    await world.createMigration('after-restart', { vmiName: 'vm-cp' });
    const m = await world.waitForPhase('after-restart', ['Succeeded', 'Failed'], 90_000);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    const after = await world.devicesOf(world.node('dst'));
    // The restart itself must not make the agent republish anything it had (no churn).
    const untouched = after.filter((d) => !d.status?.consumer).map((d) => [d.metadata.name, d.metadata.resourceVersion]);
    for (const [name, rv] of untouched) expect(before.find((d) => d.metadata.name === name)?.metadata.resourceVersion, name).to.equal(rv);
    await expectInvariants(world.scope());
  });
});
