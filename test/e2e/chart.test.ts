// The Helm chart on the real node, end to end: the image built here (pullPolicy Never), the
// controller Deployment (2 replicas) and the agent DaemonSet Ready; the agent reads a fake sysfs
// tree through its hostPath; the real API server calls the webhook through its Service; failover;
// metrics through the Service; upgrade and uninstall.
//
// Migrations: the real node is never a probe target. The product's sysfs backend tests a version
// by writing it into the target's migration_version, which on a plain-file fake tree would simply
// overwrite it; so migrations run between stand-in nodes (dev/sim/fleet: the real agent code with
// the simulated vendor backend, in this process) with the KubeVirt stand-in driving the VMIM, and
// what is proven on the real node is the controller in its pods deciding and driving them.
import { expect } from 'chai';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { KubeConfig } from '../../src/kube/kubeconfig.ts';
import { startFleet, type FleetHandle } from '../../dev/sim/fleet/fleet.ts';
import { buildNodeTree, type BuiltTree } from '../../dev/sim/fleet/node-tree.ts';
import type { FleetNodeSpec, GpuSpec } from '../../dev/sim/fleet/profile.ts';
import { binDir, clusterPaths, REPO_ROOT } from '../../dev/localcluster/index.ts';
import { nodePaths, NODE_NAME } from '../../dev/localcluster/node/layout.ts';
import { tryRun } from '../../dev/localcluster/node/exec.ts';
import { kubectl, testKubeConfig, testKubeconfigPath, uniqueName } from '../support/cluster.ts';
import { poll } from '../support/poll.ts';
import { createMigration, createNamespace, waitForPhase } from '../integration/controller/helpers.ts';
import { mdevEnvName, startDevicePluginStandin, type DevicePluginStandin } from '../../dev/standins/device-plugin/device-plugin.ts';
import { buildVmi } from '../../dev/sim/kubevirt/vmi-factory.ts';
import { kubeRequest } from '../../src/kube/request.ts';
import { E2E_CLUSTER } from './support/fixture.ts';

const RELEASE = 'e2e';
const NS = 'mdev-operator-system';
const AGENT_NS = 'mdev-operator-agent';
const FULL = `${RELEASE}-mdev-operator`;
const CHART = join(REPO_ROOT, 'charts', 'mdev-operator');
/** The resource name NVIDIA's plugin gives an H100 vGPU profile; KubeVirt VMIs request it. */
const RESOURCE = 'nvidia.com/GRID_H100-4C';

const H100: GpuSpec = { vendor: 'nvidia', board: 'H100-PCIE-80GB', hostDriver: '550.54.15', vgpuVersion: 0x12, vgpuRange: [0x10, 0x13], typeId: 'nvidia-1012', devices: 2, spare: 0 };
const spec = (name: string): FleetNodeSpec => ({ name, labels: {}, taints: [], unschedulable: false, agent: true, gpus: [H100] });

function helm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return tryRun(join(binDir(), 'helm'), ['--kubeconfig', testKubeconfigPath(), ...args], { timeoutMs: 300_000 });
}

async function json<T>(args: string[]): Promise<T> {
  const r = await kubectl([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Meta { name: string; uid: string; resourceVersion: string; labels?: Record<string, string> }
interface Pod { metadata: Meta; spec: { nodeName?: string }; status: { podIP?: string; conditions?: { type: string; status: string }[] } }
interface Lease { spec: { holderIdentity?: string; renewTime?: string } }

const podReady = (p: Pod) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function pods(ns: string, component: string): Promise<Pod[]> {
  return (await json<{ items: Pod[] }>(['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/component=${component},app.kubernetes.io/instance=${RELEASE}`])).items;
}

async function devices(): Promise<Map<string, string>> {
  const list = await json<{ items: { metadata: Meta; spec: { nodeName: string } }[] }>(['get', 'mdevdevices']);
  return new Map(list.items.filter((d) => d.spec.nodeName === NODE_NAME).map((d) => [d.metadata.name, d.metadata.resourceVersion]));
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

function postAdmissionReview(ip: string, port: number, path: string, ca: string): Promise<{ status: number; body: string }> {
  const review = {
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: {
      uid: 'e2e-direct', kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceMigration' },
      resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachineinstancemigrations' },
      name: 'direct', namespace: 'default', operation: 'CREATE', userInfo: { username: 'e2e' },
      object: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'direct', namespace: 'default' }, spec: { vmiName: 'no-such-vmi' } },
    },
  };
  return new Promise((resolve, reject) => {
    // The serving certificate names the Service, not the pod IP: verify it against that name.
    const req = httpsRequest({ host: ip, port, path, method: 'POST', ca, servername: `${FULL}-webhook.${NS}.svc`, timeout: 10_000, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(JSON.stringify(review));
  });
}

/** The API server's own count of calls it made to a webhook (apiserver_admission_webhook_request_total). */
async function webhookCalls(name: string): Promise<number> {
  const r = await kubectl(['get', '--raw', '/metrics']);
  return r.stdout.split('\n').filter((l) => l.startsWith('apiserver_admission_webhook_request_total') && l.includes(`name="${name}"`))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

describe('the chart on the real node (helm install, image loaded without a registry; device-plugin stand-in, KubeVirt stand-in)', function () {
  this.timeout(300_000);
  let kc: KubeConfig;
  let tree: BuiltTree;
  let fleet: FleetHandle | undefined;
  let plugin: DevicePluginStandin | undefined;

  before(async () => {
    kc = testKubeConfig();
    tree = buildNodeTree(spec(NODE_NAME));
    const r1 = await kubectl(['apply', '-f', join(REPO_ROOT, 'test', 'standins', 'kubevirt-crds.yaml')]);
    expect(r1.code, r1.stderr).to.equal(0);
    const socketDir = join(nodePaths(clusterPaths(E2E_CLUSTER).root).kubelet.root, 'pod-resources');
    const r = await helm(['install', RELEASE, CHART, '-n', NS, '--create-namespace',
      '--set', 'image.repository=localhost/mdev-operator', '--set', 'image.tag=dev', '--set', 'image.pullPolicy=Never',
      '--set', `agent.sysfsHostPath=${tree.tree.root}`, '--set', `agent.podResourcesHostPath=${socketDir}`,
      // Stand-in nodes join later (migrations); the agent belongs on the real node only.
      '--set', `agent.nodeSelector.kubernetes\\.io/hostname=${NODE_NAME}`,
      // Consumers are re-read from PodResources on every pass; keep the test's wait short.
      '--set', 'agent.extraArgs={--resync-interval=3s}']);
    expect(r.code, r.stderr).to.equal(0);
  });

  after(async () => {
    await plugin?.stop();
    await fleet?.stop({ deleteNodes: true });
    tree?.tree.dispose();
  });

  it('brings the controller Deployment (2 replicas) and the agent DaemonSet to Ready on the real node', async () => {
    const ready = await poll('2 controller pods and 1 agent pod Ready', async () => {
      const c = (await pods(NS, 'controller')).filter(podReady);
      const a = (await pods(AGENT_NS, 'agent')).filter(podReady);
      return c.length === 2 && a.length === 1 ? [...c, ...a] : undefined;
    }, 240_000, 1_000);
    expect(ready.map((p) => p.spec.nodeName)).to.deep.equal([NODE_NAME, NODE_NAME, NODE_NAME]);
    const deploy = await json<{ status: { readyReplicas?: number } }>(['-n', NS, 'get', 'deployment', `${FULL}-controller`]);
    expect(deploy.status.readyReplicas).to.equal(2);
    const ds = await json<{ status: { numberReady: number; desiredNumberScheduled: number } }>(['-n', AGENT_NS, 'get', 'daemonset', `${FULL}-agent`]);
    expect([ds.status.numberReady, ds.status.desiredNumberScheduled]).to.deep.equal([1, 1]);
  });

  it('the agent reads the fake sysfs tree through its hostPath and publishes its devices as MdevDevices', async () => {
    const want = [...tree.devices.values()].flat().map((u) => `${NODE_NAME}.${u}`).sort();
    const got = await poll('the real node\'s MdevDevices', async () => {
      const names = [...(await devices()).keys()].sort();
      return names.length === want.length ? names : undefined;
    }, 60_000, 500);
    expect(got).to.deep.equal(want);
  });

  it('the agent renews its Lease', async () => {
    const lease = () => json<Lease>(['-n', NS, 'get', 'lease', `mdev-agent.${NODE_NAME}`]);
    const first = (await poll('the agent lease', async () => (await lease()).spec.renewTime, 60_000, 500));
    const later = await poll('a later renewTime', async () => {
      const t = (await lease()).spec.renewTime;
      return t !== undefined && t !== first ? t : undefined;
    }, 120_000, 1_000);
    expect(Date.parse(later)).to.be.greaterThan(Date.parse(first));
    expect((await lease()).spec.holderIdentity).to.equal(NODE_NAME);
  });

  it('both controller replicas serve the webhook, and the API server calls it through its Service for a VMIM', async () => {
    const cfg = await json<{ webhooks: { name: string; clientConfig: { caBundle: string; service: { name: string; path: string; port?: number } } }[] }>(
      ['get', 'mutatingwebhookconfiguration', FULL]);
    const hook = cfg.webhooks[0]!;
    expect(hook.clientConfig.service.name).to.equal(`${FULL}-webhook`);
    const ca = Buffer.from(hook.clientConfig.caBundle, 'base64').toString('utf8');
    for (const p of await pods(NS, 'controller')) {
      const r = await postAdmissionReview(p.status.podIP!, 9443, hook.clientConfig.service.path, ca);
      expect(r.status, `${p.metadata.name}: ${r.body}`).to.equal(200);
      expect((JSON.parse(r.body) as { response: { uid: string } }).response.uid).to.equal('e2e-direct');
    }
    const before = await webhookCalls(hook.name);
    const vmim = `apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\nmetadata: {name: ${uniqueName('e2e-vmim')}, namespace: default}\nspec: {vmiName: no-such-vmi}\n`;
    await kubectl(['create', '-f', '-'], { input: vmim });
    expect(await webhookCalls(hook.name)).to.be.greaterThan(before);
  });

  it('/metrics is scraped through the controller\'s metrics Service (ClusterIP, kube-proxy)', async () => {
    const svc = await json<{ spec: { clusterIP: string; ports: { port: number }[] } }>(['-n', NS, 'get', 'service', `${FULL}-controller-metrics`]);
    const r = await poll('metrics through the ClusterIP', () => httpGet(`http://${svc.spec.clusterIP}:${svc.spec.ports[0]!.port}/metrics`).then((x) => (x.status === 200 ? x : undefined)), 30_000, 500);
    expect(r.body).to.match(/^mdev_/m);
  });

  it('deleting the agent pod: the DaemonSet recreates it, and it rewrites no MdevDevice', async () => {
    const before = await devices();
    const [old] = await pods(AGENT_NS, 'agent');
    const r = await kubectl(['-n', AGENT_NS, 'delete', 'pod', old!.metadata.name, '--wait=true']);
    expect(r.code, r.stderr).to.equal(0);
    const fresh = await poll('a new Ready agent pod', async () => {
      const p = (await pods(AGENT_NS, 'agent')).find((x) => x.metadata.uid !== old!.metadata.uid && podReady(x));
      return p;
    }, 180_000, 1_000);
    expect(fresh.metadata.uid).to.not.equal(old!.metadata.uid);
    // Ready means its first inventory pass is published (or found nothing to change).
    expect(await devices()).to.deep.equal(before);
  });

  it('deleting the leader pod hands leadership to another replica, which then completes a migration', async () => {
    const lease = () => json<Lease>(['-n', NS, 'get', 'lease', 'mdev-operator-controller']);
    const leader = await poll('a controller leader', async () => (await lease()).spec.holderIdentity || undefined, 60_000, 500);
    const other = (await pods(NS, 'controller')).map((p) => p.metadata.name).find((n) => n !== leader)!;
    const r = await kubectl(['-n', NS, 'delete', 'pod', leader, '--wait=false']);
    expect(r.code, r.stderr).to.equal(0);
    // The leader releases its Lease on SIGTERM; the standby and the Deployment's replacement pod
    // then race for it (each retries every retryPeriod with jitter), and either may win.
    let next = '';
    await poll(`leadership to move from ${leader}`, async () => {
      const holder = (await lease()).spec.holderIdentity;
      if (!holder || holder === leader) return undefined;
      next = holder;
      return (await pods(NS, 'controller')).some((p) => p.metadata.name === holder) ? true : undefined;
    }, 120_000, 500).catch(async (err: unknown) => {
      // Say what the Lease and the standby were doing, so a failure here can be read.
      const logs = await kubectl(['-n', NS, 'logs', other, '--tail=40']);
      throw new Error(`${String(err)}; lease ${JSON.stringify((await lease()).spec)}; pods ${(await pods(NS, 'controller')).map((p) => p.metadata.name).join(', ')}; ${other} log:\n${logs.stdout}${logs.stderr}`);
    });

    const vmNs = uniqueName('e2e-vms');
    await createNamespace(kc, vmNs);
    const prefix = uniqueName('e2e-sim');
    fleet = await startFleet({ kc, namespace: NS, specs: [spec(`${prefix}-1`), spec(`${prefix}-2`)], kubevirt: { namespace: vmNs, stepDelayMs: 20 }, installKubevirtCrds: false });
    await fleet.startVm({ namespace: vmNs, name: 'vm-a', node: `${prefix}-1` });
    await createMigration(kc, vmNs, 'move-a', { vmiName: 'vm-a', targetNodes: fleet.nodeNames });
    const m = await waitForPhase(kc, vmNs, 'move-a', ['Succeeded', 'Failed'], 180_000);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect((await lease()).spec.holderIdentity).to.equal(next);
  });

  it('a device-plugin stand-in registers the tree\'s mdevs with the real kubelet; a virt-launcher-shaped pod gets one, the agent publishes its VMI as consumer, and deleting the pod frees it', async () => {
    const uuids = [...tree.devices.values()].flat();
    plugin = await startDevicePluginStandin({ resourceName: RESOURCE, deviceIds: uuids });
    const allocatable = await poll(`the kubelet to advertise ${RESOURCE}`, async () => {
      const n = await json<{ status: { allocatable: Record<string, string> } }>(['get', 'node', NODE_NAME]);
      return n.status.allocatable[RESOURCE] === String(uuids.length) ? n.status.allocatable[RESOURCE] : undefined;
    }, 60_000, 500);
    expect(allocatable).to.equal('2');

    const vmNs = uniqueName('e2e-gpu');
    await createNamespace(kc, vmNs);
    const vmi = await kubeRequest(kc, { method: 'POST', path: `/apis/kubevirt.io/v1/namespaces/${vmNs}/virtualmachineinstances`,
      body: buildVmi({ namespace: vmNs, name: 'vm-gpu', nodeName: NODE_NAME, gpus: [{ name: 'gpu1', deviceName: RESOURCE }] }) }) as { metadata: { uid: string } };
    const pod = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name: 'virt-launcher-vm-gpu-e2e00', namespace: vmNs,
        labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': vmi.metadata.uid },
        annotations: { 'kubevirt.io/domain': 'vm-gpu' },
        ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: 'vm-gpu', uid: vmi.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        nodeName: NODE_NAME, terminationGracePeriodSeconds: 1,
        containers: [{
          name: 'compute', image: 'localhost/mdev-operator:dev', imagePullPolicy: 'Never',
          command: ['node', '-e', `console.log(process.env['${mdevEnvName(RESOURCE)}']); setInterval(() => {}, 1 << 30)`],
          resources: { limits: { [RESOURCE]: '1' }, requests: { [RESOURCE]: '1' } },
        }],
      },
    };
    const r = await kubectl(['create', '-f', '-'], { input: JSON.stringify(pod) });
    expect(r.code, r.stderr).to.equal(0);
    const running = await poll('the launcher pod Running', async () => {
      const p = await json<Pod & { status: { phase?: string } }>(['-n', vmNs, 'get', 'pod', pod.metadata.name]);
      return p.status.phase === 'Running' ? p : undefined;
    }, 120_000, 500);
    expect(running.spec.nodeName).to.equal(NODE_NAME);
    expect(plugin.allocations, 'the real kubelet called Allocate once, for one device').to.have.length(1);
    const [uuid] = plugin.allocations[0]!;
    expect(uuids).to.include(uuid);
    const logs = await poll('the launcher pod\'s output', async () => (await kubectl(['-n', vmNs, 'logs', pod.metadata.name])).stdout.trim() || undefined, 30_000, 500);
    expect(logs, 'the device plugin\'s env reached the container').to.equal(uuid);

    const device = `${NODE_NAME}.${uuid}`;
    const consumer = await poll(`${device} to show vm-gpu as its consumer`, async () => {
      const d = await json<{ status: { consumer?: { kind: string; namespace: string; name: string; uid: string } } }>(['get', 'mdevdevice', device]);
      return d.status.consumer;
    }, 90_000, 500);
    expect(consumer).to.deep.include({ kind: 'VirtualMachineInstance', namespace: vmNs, name: 'vm-gpu', uid: vmi.metadata.uid });
    const other = uuids.find((u) => u !== uuid)!;
    expect((await json<{ status: { consumer?: unknown } }>(['get', 'mdevdevice', `${NODE_NAME}.${other}`])).status.consumer, 'the other device stays free').to.equal(undefined);

    const d = await kubectl(['-n', vmNs, 'delete', 'pod', pod.metadata.name, '--wait=true']);
    expect(d.code, d.stderr).to.equal(0);
    await poll(`${device} to be free again`, async () => {
      const x = await json<{ status: { consumer?: unknown } }>(['get', 'mdevdevice', device]);
      return x.status.consumer === undefined ? true : undefined;
    }, 90_000, 500);
  });

  it('helm upgrade rolls the pods to the new values', async () => {
    const r = await helm(['upgrade', RELEASE, CHART, '-n', NS, '--reuse-values', '--set', 'logLevel=debug']);
    expect(r.code, r.stderr).to.equal(0);
    const rolled = await poll('2 Ready controller pods with --log-level=debug', async () => {
      const ps = (await json<{ items: (Pod & { spec: { containers: { args: string[] }[] } })[] }>(['-n', NS, 'get', 'pods', '-l', `app.kubernetes.io/component=controller,app.kubernetes.io/instance=${RELEASE}`])).items;
      const fresh = ps.filter((p) => podReady(p) && p.spec.containers[0]!.args.includes('--log-level=debug'));
      return fresh.length === 2 && ps.length === 2 ? fresh : undefined;
    }, 240_000, 1_000);
    expect(rolled).to.have.length(2);
  });

  it('helm uninstall leaves nothing of the release but the CRDs crds.keep keeps: the run-time Leases and TLS Secret go with the chart\'s owner ConfigMap', async () => {
    // What the operator created at run time refers to the chart's ConfigMap; the garbage collector
    // (kube-controller-manager) deletes it when helm deletes the ConfigMap.
    const runtimeObjects = [`lease/mdev-agent.${NODE_NAME}`, 'lease/mdev-operator-controller', `secret/${FULL}-webhook-tls`];
    for (const obj of runtimeObjects) {
      const o = await json<{ metadata: { ownerReferences?: { kind: string; name: string }[] } }>(['-n', NS, 'get', obj]);
      expect(o.metadata.ownerReferences?.map((r) => `${r.kind}/${r.name}`), obj).to.deep.equal([`ConfigMap/${FULL}-owner`]);
    }
    // The stand-in nodes' agents ran in this process, not in the chart (no owner): remove their Leases.
    const standins = fleet?.nodeNames ?? [];
    await fleet?.stop({ deleteNodes: true });
    fleet = undefined;
    if (standins.length) await kubectl(['-n', NS, 'delete', ...standins.map((n) => `lease/mdev-agent.${n}`), '--ignore-not-found']);
    const r = await helm(['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '3m']);
    expect(r.code, r.stderr).to.equal(0);
    const selector = `app.kubernetes.io/instance=${RELEASE}`;
    const left = await poll('no object of the release left', async () => {
      const all = await kubectl(['get', 'deploy,ds,rs,pods,svc,sa,secrets,configmaps,roles,rolebindings,pdb,leases', '-A', '-l', selector, '-o', 'name']);
      const cluster = await kubectl(['get', 'clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings', '-l', selector, '-o', 'name']);
      const ns = await kubectl(['get', 'namespace', AGENT_NS, '-o', 'name', '--ignore-not-found']);
      const names = `${all.stdout}${cluster.stdout}${ns.stdout}`.split('\n').filter(Boolean);
      return names.length === 0 ? names : undefined;
    }, 180_000, 1_000);
    expect(left).to.deep.equal([]);
    // The release namespace (helm install --create-namespace makes it, helm never deletes it) holds
    // only what Kubernetes puts into every namespace once the collector has removed the run-time objects.
    const kubernetesOwn = ['configmap/kube-root-ca.crt', 'serviceaccount/default'];
    const remaining = await poll('the garbage collector to remove the Leases and the TLS Secret', async () => {
      const x = await kubectl(['-n', NS, 'get', 'secrets,leases,configmaps,services,deployments,daemonsets,pods,serviceaccounts,roles,rolebindings', '-o', 'name']);
      const names = x.stdout.split('\n').filter(Boolean).sort();
      return names.some((n) => n.startsWith('lease.') || n.startsWith('secret/')) ? undefined : names;
    }, 120_000, 1_000);
    expect(remaining).to.deep.equal(kubernetesOwn);
    const d = await kubectl(['delete', 'namespace', NS, '--wait=true', '--timeout=120s']);
    expect(d.code, d.stderr).to.equal(0);
    const crds = await kubectl(['get', 'crd', '-o', 'name']);
    expect(crds.stdout.split('\n').filter((l) => l.includes('mdev-operator.io'))).to.have.length(4);
  });

});
