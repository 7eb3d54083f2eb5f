// Faults around the node agent on the REAL local kube-apiserver, with STAND-IN nodes (fake sysfs
// trees with simulated vendor drivers, the real agent code): an agent killed and restarted, a
// Node deleted under its devices, a flood of probes, and hostile sysfs trees.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { startAgent, type AgentHandle } from '../../../src/agent/agent.ts';
import type { AgentConfig } from '../../../src/agent/config.ts';
import { deviceObjectName, LABEL_NODE, type MdevDevice } from '../../../src/api/v1alpha1/index.ts';
import type { CompatBackend } from '../../../src/compat/backend.ts';
import { SysfsBackend } from '../../../src/compat/sysfs-backend.ts';
import { MDEV_PROBES } from '../../../src/controller/resources.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { ensureNode } from '../../../dev/sim/fleet/fleet.ts';
import { buildNodeTree } from '../../../dev/sim/fleet/node-tree.ts';
import type { FleetNodeSpec } from '../../../dev/sim/fleet/profile.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import { addLinkLoop, makeHugeAttr, makeUnreadable } from '../../../dev/fakes/sysfs/fake-tree-hostile.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { expectInvariants } from '../../support/faults/invariants.ts';
import { eventually, FaultWorld, h100, installCrds, nodeSpec } from '../../support/faults/world.ts';

const rvs = (ds: MdevDevice[]) => ds.map((d) => `${d.metadata.name}@${d.metadata.resourceVersion}`);

/** The agent of a stand-in node started by hand (the fleet's own agents cannot be restarted). */
async function startNodeAgent(kc: ReturnType<typeof testKubeConfig>, spec: FleetNodeSpec, namespace: string, wrap?: (b: CompatBackend, tree: FakeTree) => CompatBackend, tree?: FakeTree) {
  const t = tree ?? buildNodeTree(spec).tree;
  const io = new FakeSysfs(t);
  const real = new SysfsBackend(io, 'simulated');
  const config: AgentConfig = {
    nodeName: spec.name, sysfsRoot: t.layout.sysRoot, mdevctlRoot: t.layout.mdevctlRoot, backend: 'simulated', namespace,
    resyncIntervalMs: 3_600_000, leaseDurationMs: 40_000, leaseRenewMs: 10_000, metricsPort: 0, healthPort: 0, logLevel: 'error',
  };
  const agent = await startAgent(config, { kc, io, backend: wrap ? wrap(real, t) : real, registry: new Registry(), serveHttp: false, podDevices: async () => [] });
  return { agent, tree: t };
}

describe('faults: node agents (stand-in nodes running the real agent)', function () {
  this.timeout(180_000);
  const kc = testKubeConfig();

  describe('an agent killed and restarted, and a Node deleted', () => {
    let world: FaultWorld;
    const extra: Array<{ agent: AgentHandle; tree: FakeTree }> = [];

    before(async () => {
      world = await FaultWorld.start({
        kc, prefix: 'fag', kubevirt: false,
        nodes: [{ suffix: 'a', gpus: [h100('550.54.15', { devices: 3 })] }, { suffix: 'gone', gpus: [h100('550.54.15')] }],
      });
    });

    after(async () => {
      for (const e of extra.splice(0)) {
        await e.agent.stop();
        e.tree.dispose();
      }
      await world?.stop();
    });

    it('republishes nothing after a restart (resourceVersions unchanged) and answers probes once it is back', async () => {
      const node = world.node('a');
      const spec = world.fleet.specs.find((s) => s.name === node) as FleetNodeSpec;
      const before = await world.devicesOf(node);
      expect(before).to.have.length(3);
      const version = before[0]?.status?.migrationVersion as string;
      await world.fleet.stopAgent(node);

      // A probe sent while the agent is down waits, unanswered, for its return.
      const waiting = await world.createProbe(node, version, 'nvidia-1012', ';while-down');
      const restarted = await startNodeAgent(kc, spec, world.opNs);
      extra.push(restarted);

      const answered = await world.answered(waiting);
      expect(answered.status?.results).to.have.length(3);
      expect(answered.status?.results?.every((r) => r.accepted), JSON.stringify(answered.status?.results)).to.equal(true);
      const fresh = await world.answered(await world.createProbe(node, version, 'nvidia-1012', ';after'));
      expect(fresh.status?.results).to.have.length(3);
      await restarted.agent.rediscover();
      expect(rvs(await world.devicesOf(node)), 'no MdevDevice churn').to.deep.equal(rvs(before));
      expect(restarted.agent.lastPass()?.publish.applied).to.have.length(0);
      await expectInvariants({
        ...world.scope(),
        expectedDevices: (n) => (n === node ? [...(restarted.agent.lastPass()?.inventory.devices.keys() ?? [])] : undefined),
      });
    });

    it('garbage-collects the MdevDevices of a deleted Node (kube-controller-manager GC)', async () => {
      const node = world.node('gone');
      expect(await world.devicesOf(node)).to.have.length(2);
      await world.fleet.stopAgent(node);
      await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${node}` });
      await eventually(`the MdevDevices of ${node} to be garbage-collected`, async () => ((await world.devicesOf(node)).length === 0 ? true : undefined), 60_000);
      await expectInvariants({ ...world.scope(), expectedDevices: () => undefined });
    });
  });

  describe('1,000 MdevProbes flooded at one node', () => {
    let world: FaultWorld;
    before(async () => {
      world = await FaultWorld.start({ kc, prefix: 'fflood', kubevirt: false, nodes: [{ suffix: 'n', gpus: [h100('550.54.15', { devices: 4 })] }] });
    });
    after(async () => world?.stop());

    // Memory under such a flood is a benchmark figure (npm run bench -- --only agent), not a bound
    // here: this process's heap is shared with every other test of the mocha run.
    it('answers every probe and drains its backlog', async () => {
      const node = world.node('n');
      const version = (await world.devicesOf(node))[0]?.status?.migrationVersion as string;
      const names: string[] = [];
      const total = 1000;
      let next = 0;
      // Half accepted (the source's own string), half rejected (another driver branch): each probe is distinct.
      await Promise.all(Array.from({ length: 16 }, async () => {
        for (let i = next++; i < total; i = next++) {
          const source = i % 2 === 0 ? version : version.replace('host=550.54.15', 'host=535.161.08');
          names[i] = await world.createProbe(node, source, 'nvidia-1012', `;flood=${i}`); // by index: even accepted, odd rejected
        }
      }));
      await eventually('every flooded probe to be answered', async () => {
        const res = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_PROBES), query: { labelSelector: `${LABEL_NODE}=${node}` } })) as {
          items: Array<{ metadata: { generation?: number }; status?: { observedGeneration?: number; results?: unknown[] } }>;
        };
        const done = res.items.filter((p) => p.status?.observedGeneration === (p.metadata.generation ?? 1) && (p.status?.results?.length ?? 0) === 4);
        return done.length === total ? res.items : undefined;
      }, 150_000);
      expect(names).to.have.length(total);
      // The API server shows an answer a moment before the responder counts that probe done.
      await eventually('the agent\'s probe backlog to drain', async () => (world.fleet.agent(node)?.probeBacklog() === 0 ? true : undefined), 30_000);
      const answeredOk = await world.answered(names[0] as string);
      expect(answeredOk.status?.results?.every((r) => r.accepted)).to.equal(true);
      const rejected = await world.answered(names[1] as string);
      expect(rejected.status?.results?.every((r) => !r.accepted && /branch/.test(r.reason ?? ''))).to.equal(true);
      await eventually('the agent to be ready', async () => (world.fleet.agent(node)?.ready() ? true : undefined));
    });
  });

  describe('hostile sysfs trees', () => {
    const opNs = uniqueName('fhost-op');
    const started: Array<{ agent: AgentHandle; tree: FakeTree; node: string }> = [];

    before(async () => {
      await installCrds();
      await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: opNs } } });
    });

    after(async () => {
      for (const s of started.splice(0)) {
        await s.agent.stop();
        s.tree.dispose();
        await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${s.node}` }).catch(() => undefined);
      }
      await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${opNs}` }).catch(() => undefined);
    });

    async function hostileAgent(suffix: string, prepare: (tree: FakeTree) => void, wrap?: (b: CompatBackend, tree: FakeTree) => CompatBackend) {
      const spec = nodeSpec(uniqueName(`fhost-${suffix}`), [h100('550.54.15', { devices: 3 })]);
      await ensureNode(kc, spec);
      const tree = buildNodeTree(spec).tree;
      prepare(tree);
      const s = await startNodeAgent(kc, spec, opNs, wrap, tree);
      started.push({ ...s, node: spec.name });
      return { ...s, node: spec.name };
    }

    const devicesOf = async (node: string) =>
      ((await kubeRequest(kc, { method: 'GET', path: '/apis/mdev-operator.io/v1alpha1/mdevdevices', query: { labelSelector: `${LABEL_NODE}=${node}` } })) as { items: MdevDevice[] }).items;

    it('a link loop, a multi-megabyte attribute and an unreadable attribute: skipped or not migratable with reasons; the agent stays ready', async () => {
      let victims: string[] = [];
      const { agent, node, tree } = await hostileAgent('tree', (t) => {
        addLinkLoop(t, 'class/mdev_bus/0000:98:00.0');
        victims = t.mdevs().slice(0, 2);
        makeHugeAttr(t, `bus/mdev/devices/${victims[0]}/migration_version`, 8 * 1024 * 1024);
        makeUnreadable(t, `bus/mdev/devices/${victims[1]}/migration_version`);
      });
      expect(agent.lastPass()?.warnings.some((w) => w.includes('ELOOP')), String(agent.lastPass()?.warnings)).to.equal(true);
      const devices = await devicesOf(node);
      expect(devices).to.have.length(3);
      const byId = (id: string) => devices.find((d) => d.spec.id === id);
      expect(byId(victims[0] as string)?.status).to.deep.include({ migratable: false });
      expect(byId(victims[0] as string)?.status?.reason).to.match(/EFBIG/);
      expect(byId(victims[1] as string)?.status?.migratable).to.equal(false);
      expect(byId(victims[1] as string)?.status?.reason).to.match(/migration_version/);
      expect(devices.filter((d) => d.status?.migratable)).to.have.length(1);
      await agent.rediscover();
      // Readiness may dip for a moment on a loaded machine (an informer relisting, a publish retried);
      // what the hostile tree must not do is keep the agent unready.
      await eventually('the agent to be ready', async () => (agent.ready() ? true : undefined));
      expect(tree.mdevs()).to.have.length(3);
    });

    it('a device that vanishes mid-probe: that target is refused with a reason, its MdevDevice is deleted, the agent keeps answering', async () => {
      let vanished = '';
      const { agent, node, tree } = await hostileAgent('vanish', () => undefined, (real, t) => ({
        name: real.name,
        readVersion: (s) => real.readVersion(s),
        test: async (target, source) => {
          // The driver unbinds the device between planning and the write (hot-unplug, host reset).
          if (!vanished && 'kind' in target) {
            vanished = target.id;
            t.removeMdev(target.id);
          }
          return real.test(target, source);
        },
      }));
      const version = (await devicesOf(node))[0]?.status?.migrationVersion as string;
      const body = (salt: string) => ({
        apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevProbe',
        metadata: { name: uniqueName(`vanish-${salt}`), labels: { [LABEL_NODE]: node } },
        spec: { nodeName: node, typeId: 'nvidia-1012', sourceVersion: version, devices: [] },
      });
      const read = async (name: string) => eventually(`probe ${name} answered`, async () => {
        const p = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_PROBES, { name }) })) as { metadata: { generation?: number }; status?: { observedGeneration?: number; results?: Array<{ device?: string; accepted: boolean; reason?: string }> } };
        return p.status?.observedGeneration === (p.metadata.generation ?? 1) ? p : undefined;
      });
      const first = body('1');
      await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_PROBES), body: first });
      const p1 = await read(first.metadata.name);
      const gone = p1.status?.results?.find((r) => r.device === deviceObjectName(node, vanished));
      expect(gone?.accepted, JSON.stringify(p1.status?.results)).to.equal(false);
      expect(gone?.reason).to.be.a('string').and.not.equal('');
      expect(p1.status?.results?.filter((r) => r.accepted)).to.have.length(2);

      await agent.rediscover();
      await eventually('the vanished device to be unpublished', async () => ((await devicesOf(node)).some((d) => d.spec.id === vanished) ? undefined : true));
      const second = body('2');
      await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_PROBES), body: second });
      const p2 = await read(second.metadata.name);
      expect(p2.status?.results).to.have.length(2);
      expect(p2.status?.results?.every((r) => r.accepted)).to.equal(true);
      await eventually('the agent to be ready', async () => (agent.ready() ? true : undefined));
      expect(tree.mdevs()).to.have.length(2);
    });
  });
});
