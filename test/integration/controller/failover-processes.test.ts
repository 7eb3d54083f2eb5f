// Leader failover across OS processes on the REAL local kube-apiserver: two `mdev-operator
// controller` child processes (the real CLI entry point, --leader-elect=true, short lease timings
// passed as flags) against STAND-IN nodes (the fleet simulator running the real agent code) and the KubeVirt
// STAND-IN simulator, slowed so the VMIM is still in flight when the leader is SIGKILLed. Unlike
// webhook-integration.test.ts (two managers in one process, a simulated kill), the dead leader
// here gets no chance to run any code: no release of the Lease, no last write. The second test
// pauses the leader (SIGSTOP) instead: resumed after the other process took its Lease, it must
// notice the loss and stop leading WITHOUT exiting (ADR 0014): /healthz stays 200, it reports
// itself a follower, the other keeps reconciling, and it leads again once that one dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { LEADER_LEASE_NAME, LEASES } from '../../../src/controller/resources.ts';
import { vmimName } from '../../../src/controller/vmim-driver.ts';
import { informerFor, type Informer } from '../../../src/kube/informer.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { getVmi } from '../../../src/kubevirt/client.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { isVmimFinal, parseVmim, VMIM_RESOURCE, type Vmim } from '../../../src/kubevirt/types.ts';
import { freePort } from '../../../dev/localcluster/processes.ts';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import type { FleetNodeSpec, GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { testKubeconfigPath, testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { poll } from '../../support/poll.ts';
import { claimsOf, createMigration, createNamespace, deleteNamespace, installCrds, listEvents, vmimsOf, waitFor, waitForPhase } from './helpers.ts';

const H100: GpuSpec = {
  vendor: 'nvidia',
  board: 'H100-PCIE-80GB',
  hostDriver: '550.54.15',
  vgpuVersion: 0x12,
  vgpuRange: [0x10, 0x13],
  typeId: 'nvidia-1012',
  devices: 2,
  spare: 0,
};

function node(name: string): FleetNodeSpec {
  return { name, labels: {}, taints: [], unschedulable: false, agent: true, gpus: [H100] };
}

/** Leader-election timings of both processes (defaults 15 s / 10 s / 2 s): short, so failover is quick. */
const LEASE_DURATION_MS = 4_000;
const LEADER_ELECT_FLAGS = ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '500ms'];
/** Pause of the KubeVirt stand-in before each of its 7 VMIM phase steps: ~10 s per VMIM, so it outlives kill and takeover. */
const VMIM_STEP_DELAY_MS = 1_500;
/** How long to wait for a takeover or a loss before calling it a hang (a liveness guard, not a measurement). */
const HANG_MS = 45_000;
/** What the manager logs, in the same synchronous step that ends the term's writes, when it lost a lease it held. */
const LOST_LOG = 'Lost leadership (the Lease could not be renewed in time); stopping the reconcilers, serving on, campaigning again';

interface Controller {
  identity: string;
  child: ChildProcess;
  healthPort: number;
  metricsPort: number;
  /** The tail of its stderr, shown when a test fails. */
  stderr: string[];
  /** Settles when the process exited, with its exit code or the signal that ended it. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function alive(c: Controller): boolean {
  return c.child.exitCode === null && c.child.signalCode === null;
}

async function spawnController(identity: string, namespace: string): Promise<Controller> {
  const [healthPort, metricsPort] = [await freePort(), await freePort()];
  const entry = new URL('../../../src/cli/controller-command.ts', import.meta.url).href;
  const script = `import { controllerCommand } from ${JSON.stringify(entry)}; process.exitCode = await controllerCommand(process.argv.slice(1));`;
  const args = [
    '--input-type=module', '-e', script, '--',
    '--kubeconfig', testKubeconfigPath(),
    '--namespace', namespace,
    '--leader-elect=true',
    '--identity', identity,
    '--webhook-port', '0',
    '--health-port', String(healthPort),
    '--metrics-port', String(metricsPort),
    '--probe-timeout', '5s',
    '--log-level', 'info',
    ...LEADER_ELECT_FLAGS,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 400) stderr.splice(0, stderr.length - 400);
  });
  return { identity, child, healthPort, metricsPort, stderr, exit };
}

async function waitReady(c: Controller, timeoutMs = 45_000): Promise<void> {
  await poll(`controller ${c.identity} to answer /readyz`, async () => {
    if (c.child.exitCode !== null || c.child.signalCode !== null) throw new Error(`controller ${c.identity} exited (${c.child.exitCode ?? c.child.signalCode})`);
    const res = await fetch(`http://127.0.0.1:${c.healthPort}/readyz`).catch(() => undefined);
    return res?.ok ? true : undefined;
  }, timeoutMs, 200);
}

/** `leader_election_master_status{name="<lease>"}` on a controller's /metrics; undefined when the series is absent. */
async function masterStatus(c: Controller): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('leader_election_master_status{') && l.includes(`name="${LEADER_LEASE_NAME}"`));
  return line === undefined ? undefined : Number(line.trim().split(/\s+/).pop());
}

interface LeaseView {
  holder: string;
  renewMs: number;
  acquireMs: number;
  transitions: number;
  durationSeconds: number;
}

type RawLease = { spec?: { holderIdentity?: string; renewTime?: string; acquireTime?: string; leaseTransitions?: number; leaseDurationSeconds?: number } };

function leaseView(raw: RawLease | undefined): LeaseView | undefined {
  if (!raw?.spec) return undefined;
  const s = raw.spec;
  return { holder: s.holderIdentity ?? '', renewMs: Date.parse(s.renewTime ?? ''), acquireMs: Date.parse(s.acquireTime ?? ''), transitions: s.leaseTransitions ?? 0, durationSeconds: s.leaseDurationSeconds ?? 0 };
}

async function readLease(kc: KubeConfig, namespace: string): Promise<LeaseView | undefined> {
  return leaseView((await kubeRequest(kc, { method: 'GET', path: resourcePath(LEASES, { namespace, name: LEADER_LEASE_NAME }) }).catch(() => undefined)) as RawLease | undefined);
}

/** A change of holder as the watch delivered it: the version before (the old holder's last renewal) and the one that took it. */
interface Takeover {
  last: LeaseView;
  taken: LeaseView;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGCONT'); // in case a failed test left it paused
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 8_000))]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
  }
}

describe('controller failover across two OS processes (stand-in fleet running the real agent, KubeVirt stand-in)', function () {
  this.timeout(120_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('mdevop-fo');
  const ns = uniqueName('fo-vms');
  const p = uniqueName('fo');
  const [src, dst] = [`${p}-1`, `${p}-2`];
  const controllers: Controller[] = [];
  let fleet: FleetHandle | undefined;
  let vmimWatch: Informer<Vmim> | undefined;
  let leaseWatch: Informer<LeaseView> | undefined;
  /** Every change of the leader Lease's holder, in resourceVersion order. */
  const takeovers: Takeover[] = [];
  /** Every VMIM the API server reported in the test namespace: name → the uids it had. */
  const vmimsSeen = new Map<string, Set<string>>();

  before(async function () {
    this.timeout(60_000);
    await installCrds();
    await installKubevirtStandins(kc);
    await createNamespace(kc, opNs);
    await createNamespace(kc, ns);
    vmimWatch = informerFor<Vmim>(kc, { resource: VMIM_RESOURCE, namespace: ns, name: 'failover-test-vmims', parse: (o) => parseVmim(o) });
    const record = (v: Vmim): void => {
      const uids = vmimsSeen.get(v.metadata.name) ?? new Set<string>();
      uids.add((v.metadata as { uid?: string }).uid ?? '');
      vmimsSeen.set(v.metadata.name, uids);
    };
    vmimWatch.addHandlers({ add: record, update: (_o, v) => record(v) });
    vmimWatch.start();
    await vmimWatch.waitForSync();
    leaseWatch = informerFor<LeaseView>(kc, { resource: LEASES, namespace: opNs, fieldSelector: `metadata.name=${LEADER_LEASE_NAME}`, name: 'failover-test-lease', parse: (o) => leaseView(o as RawLease) });
    leaseWatch.addHandlers({
      update: (last, taken) => {
        if (last.holder !== taken.holder) takeovers.push({ last, taken });
      },
    });
    leaseWatch.start();
    await leaseWatch.waitForSync();
    fleet = await startFleet({ kc, namespace: opNs, specs: [node(src), node(dst)], kubevirt: { namespace: ns, stepDelayMs: VMIM_STEP_DELAY_MS }, resyncIntervalMs: 2_000 });
    for (const id of ['ctl-a', 'ctl-b']) controllers.push(await spawnController(`${p}-${id}`, opNs));
    await Promise.all(controllers.map((c) => waitReady(c)));
  });

  /** The first takeover from `holder` after the first `since` takeovers: the watch shows the holder's last renewal and the new holder's first write. */
  function takeoverFrom(holder: string, since: number): Promise<Takeover> {
    return waitFor(`the leader Lease to be taken from ${holder}`, async () => takeovers.slice(since).find((t) => t.last.holder === holder), HANG_MS);
  }

  /** The Events with `reason` about a migration, once there is one: the recorder writes them after the status, without waiting. */
  function eventsWithReason(namespace: string, name: string, reason: string): Promise<{ source?: { host?: string } }[]> {
    return waitFor(`a ${reason} event for ${namespace}/${name}`, async () => {
      const found = (await listEvents(kc, namespace, name)).filter((e) => e.reason === reason) as { source?: { host?: string } }[];
      return found.length > 0 ? found : undefined;
    }, 10_000);
  }

  /** Two running controllers: the ones still alive, plus fresh ones for those an earlier test ended. */
  async function twoLiveControllers(): Promise<Controller[]> {
    const fresh: Controller[] = [];
    while (controllers.filter(alive).length < 2) {
      const c = await spawnController(`${p}-ctl-${String.fromCharCode(97 + controllers.length)}`, opNs);
      controllers.push(c);
      fresh.push(c);
    }
    await Promise.all(fresh.map((c) => waitReady(c)));
    return controllers.filter(alive);
  }

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    for (const c of controllers) process.stderr.write(`--- stderr of controller ${c.identity} (pid ${c.child.pid}) ---\n${c.stderr.join('')}\n`);
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(controllers.map((c) => stopChild(c.child)));
    await vmimWatch?.stop();
    await leaseWatch?.stop();
    await fleet?.stop({ deleteNodes: true });
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, opNs);
  });

  it('after SIGKILL of the leader mid-migration the other process takes the Lease once it expired and finishes with the one VMIM, then the claim goes', async () => {
    // 1. One leader: the Lease names one of the two processes, and only its metric says so.
    const first = await waitFor('a controller to hold the leader Lease', async () => {
      const l = await readLease(kc, opNs);
      return l && controllers.some((c) => c.identity === l.holder) ? l : undefined;
    }, 30_000);
    const leader = controllers.find((c) => c.identity === first.holder) as Controller;
    const follower = controllers.find((c) => c !== leader) as Controller;
    await waitFor('the leader to report leader_election_master_status 1', async () => ((await masterStatus(leader)) === 1 ? true : undefined), 30_000);
    expect(await masterStatus(follower), 'the follower must not report itself as leader').to.not.equal(1);

    // 2. A real (non-dry-run) migration, caught while its VMIM is in flight.
    await fleet!.startVm({ namespace: ns, name: 'vm-f', node: src });
    await createMigration(kc, ns, 'move-f', { vmiName: 'vm-f', targetNodes: [src, dst] });
    const migrating = await waitForPhase(kc, ns, 'move-f', ['Migrating', 'Succeeded', 'Failed'], 30_000);
    expect(migrating.status?.phase, migrating.status?.message).to.equal('Migrating');
    const inFlight = await vmimsOf(kc, ns, migrating);
    expect(inFlight.map((v) => v.metadata.name)).to.deep.equal([vmimName('move-f', 1)]);
    expect(isVmimFinal(inFlight[0] as Vmim), 'the VMIM must still be in flight when the leader dies').to.equal(false);
    expect(migrating.status?.devices).to.have.length(1);
    expect((await claimsOf(kc, ns, 'move-f')).map((c) => [c.node, c.units]), 'one unit is claimed on the target while migrating').to.deep.equal([[dst, 1]]);

    // 3. SIGKILL: no graceful stop, no Lease release.
    const since = takeovers.length;
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await new Promise<void>((r) => (leader.child.signalCode !== null ? r() : leader.child.once('exit', () => r())));
    expect(leader.child.signalCode).to.equal('SIGKILL');

    // 4. The follower takes the Lease, and not before it expired: the version before the takeover
    //    (from the watch, so a renewal still on the wire at the kill is included) is the dead leader's
    //    last renewal, and the takeover's acquireTime is at least a lease duration after it.
    const { last, taken } = await takeoverFrom(leader.identity, since);
    const takeoverMs = Date.now() - killedAt;
    const durationMs = last.durationSeconds * 1000;
    expect(durationMs, 'the Lease carries the duration passed as --leader-elect-lease-duration').to.equal(LEASE_DURATION_MS);
    expect(taken.holder).to.equal(follower.identity);
    expect(taken.acquireMs - last.renewMs, 'the follower acquired before the dead leader\'s last renewal had expired').to.be.at.least(durationMs);
    expect(taken.transitions).to.equal(last.transitions + 1);
    await waitFor('the new leader to report leader_election_master_status 1', async () => ((await masterStatus(follower)) === 1 ? true : undefined), 30_000);
    const vmimAtTakeover = (await vmimsOf(kc, ns, migrating))[0];
    process.stderr.write(`      [failover] takeover ${(takeoverMs / 1000).toFixed(1)} s after SIGKILL (lease ${durationMs / 1000} s); VMIM phase then: ${vmimAtTakeover?.status?.phase ?? '?'}\n`);

    // 5. The new leader finishes the same migration with the same VMIM.
    const done = await waitForPhase(kc, ns, 'move-f', ['Succeeded', 'Failed'], 45_000);
    expect(done.status?.phase, done.status?.message).to.equal('Succeeded');
    expect(done.status?.targetNode).to.equal(dst);
    expect(done.status?.attempts).to.equal(1);
    expect((await getVmi(kc, ns, 'vm-f'))?.status?.nodeName).to.equal(dst);
    expect((await vmimsOf(kc, ns, done)).map((v) => v.metadata.name)).to.deep.equal([vmimName('move-f', 1)]);
    // Ever created, not just present now: the watch saw one name with one uid (no delete-and-recreate).
    expect([...vmimsSeen.keys()]).to.deep.equal([vmimName('move-f', 1)]);
    expect(vmimsSeen.get(vmimName('move-f', 1))?.size).to.equal(1);
    const succeeded = await eventsWithReason(ns, 'move-f', 'Succeeded');
    expect(succeeded.map((e) => e.source?.host), 'the Succeeded event comes from the new leader').to.deep.equal([follower.identity]);

    // 6. No claim is left: the new leader settles the migration once the target shows the VMI.
    await waitFor('no claim left by move-f', async () => ((await claimsOf(kc, ns, 'move-f')).length === 0 ? true : undefined), 30_000);
    expect(follower.child.exitCode, 'the new leader is still running').to.equal(null);
  });

  it('a leader paused (SIGSTOP) until the other process took its Lease stops leading once resumed but keeps running and serving, and leads again when the other dies', async function () {
    this.timeout(150_000);
    const live = await twoLiveControllers();
    const held = await waitFor('a running controller to hold the leader Lease', async () => {
      const l = await readLease(kc, opNs);
      return l && live.some((c) => c.identity === l.holder) ? l : undefined;
    }, 30_000);
    const a = live.find((c) => c.identity === held.holder) as Controller;
    const b = live.find((c) => c !== a) as Controller;
    await waitFor(`${a.identity} to report leader_election_master_status 1`, async () => ((await masterStatus(a)) === 1 ? true : undefined), 30_000);
    expect(await masterStatus(b), 'the follower must not report itself as leader').to.not.equal(1);
    expect((await fetch(`http://127.0.0.1:${a.healthPort}/healthz`)).status, 'the leader is healthy before the pause').to.equal(200);

    // 1. Pause the leader: it stops renewing without knowing it, as in a long GC pause or a frozen VM.
    const since = takeovers.length;
    a.child.kill('SIGSTOP');
    const { last, taken } = await takeoverFrom(a.identity, since);
    expect(taken.holder).to.equal(b.identity);
    expect(taken.acquireMs - last.renewMs, 'the follower acquired before the paused leader\'s last renewal had expired').to.be.at.least(LEASE_DURATION_MS);
    expect(taken.transitions).to.equal(last.transitions + 1);
    expect(alive(a), 'the paused leader is still a live process').to.equal(true);

    // 2. Resume it while probing its /healthz: it notices the loss, stops leading, and stays up and healthy.
    const answers: number[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing && alive(a)) {
        const res = await fetch(`http://127.0.0.1:${a.healthPort}/healthz`).catch(() => undefined);
        if (res) {
          answers.push(res.status);
          await res.body?.cancel();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    a.child.kill('SIGCONT');
    await waitFor(`${a.identity} to log the loss`, async () => (a.stderr.join('').includes(LOST_LOG) ? true : undefined), HANG_MS);
    await waitFor(`${a.identity} to report leader_election_master_status 0`, async () => ((await masterStatus(a)) === 0 ? true : undefined), HANG_MS);
    probing = false;
    await prober;
    expect(alive(a), 'the replica that lost its Lease keeps running (it serves the webhook)').to.equal(true);
    expect(answers.filter((x) => x !== 200), '/healthz stays 200 through the loss').to.deep.equal([]);
    expect(answers.length).to.be.greaterThan(0);
    expect((await fetch(`http://127.0.0.1:${a.healthPort}/readyz`)).status, 'and stays ready').to.equal(200);
    process.stderr.write(`      [failover] resumed leader stopped leading and kept running; /healthz answered 200 ${answers.length} times meanwhile\n`);

    // 3. The new leader stays leader and keeps reconciling; the resumed one took nothing back.
    const now = (await readLease(kc, opNs)) as LeaseView;
    expect(now.holder).to.equal(b.identity);
    expect(now.transitions, 'the resumed process took nothing back').to.equal(taken.transitions);
    await waitFor(`${b.identity} to report leader_election_master_status 1`, async () => ((await masterStatus(b)) === 1 ? true : undefined), 30_000);
    await fleet!.startVm({ namespace: ns, name: 'vm-g', node: src });
    await createMigration(kc, ns, 'plan-g', { vmiName: 'vm-g', dryRun: true, targetNodes: [src, dst] });
    const planned = await waitForPhase(kc, ns, 'plan-g', ['Planned', 'Failed'], 30_000);
    expect(planned.status?.phase, planned.status?.message).to.equal('Planned');
    expect(planned.status?.targetNode).to.equal(dst);
    const plannedEvents = await eventsWithReason(ns, 'plan-g', 'Planned');
    expect(plannedEvents.map((e) => e.source?.host), 'the Planned event comes from the new leader').to.deep.equal([b.identity]);

    // 4. It campaigned again: when the new leader dies, the resumed replica takes the Lease and reconciles.
    const before = takeovers.length;
    b.child.kill('SIGKILL');
    await b.exit;
    const back = await takeoverFrom(b.identity, before);
    expect(back.taken.holder).to.equal(a.identity);
    expect(back.taken.transitions).to.equal(taken.transitions + 1);
    await waitFor(`${a.identity} to report leader_election_master_status 1`, async () => ((await masterStatus(a)) === 1 ? true : undefined), 30_000);
    await fleet!.startVm({ namespace: ns, name: 'vm-h', node: src });
    await createMigration(kc, ns, 'plan-h', { vmiName: 'vm-h', dryRun: true, targetNodes: [src, dst] });
    const again = await waitForPhase(kc, ns, 'plan-h', ['Planned', 'Failed'], 30_000);
    expect(again.status?.phase, again.status?.message).to.equal('Planned');
    expect((await eventsWithReason(ns, 'plan-h', 'Planned')).map((e) => e.source?.host), 'planned by the replica that had lost its Lease').to.deep.equal([a.identity]);
    expect(alive(a)).to.equal(true);
  });
});
