// The agent with a REAL pod-bound ServiceAccount token (TokenRequest bound to a Pod whose
// spec.nodeName is node-a; the Pod stays Pending: no kubelet) against the chart's RBAC and its
// node-confinement ValidatingAdmissionPolicy on the real API server. The node's sysfs is a fake
// tree with a simulated vendor driver (a STAND-IN for the hardware).
import { expect } from 'chai';
import { API_VERSION, FIELD_MANAGER_AGENT, LABEL_NODE } from '../../../src/api/v1alpha1/index.ts';
import { MDEV_PROBE_RESOURCE, startAgent, type AgentHandle } from '../../../src/agent/agent.ts';
import type { AgentConfig } from '../../../src/agent/config.ts';
import { MDEV_DEVICE_RESOURCE } from '../../../src/agent/publisher.ts';
import { SysfsBackend } from '../../../src/compat/sysfs-backend.ts';
import { MDEV_MIGRATIONS, MDEV_NODES } from '../../../src/controller/resources.ts';
import { mergePatch, serverSideApply, type ApplyObject } from '../../../src/kube/apply.ts';
import { apiStatus } from '../../../src/kube/errors.ts';
import { agentLeaseName } from '../../../src/api/v1alpha1/names.ts';
import { LEASES } from '../../../src/kube/lease-store.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { buildNodeTree } from '../../../dev/sim/fleet/node-tree.ts';
import type { FleetNodeSpec } from '../../../dev/sim/fleet/profile.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { installCrds, waitFor } from '../controller/helpers.ts';
import {
  CallRecorder,
  ensureNodeObject,
  installChartIdentities,
  podBoundToken,
  removeChartIdentities,
  requestToken,
  reviewToken,
  tokenKubeConfig,
  waitUntilAllowed,
  usedPermissions,
  grantedPermissions,
  type ChartIdentities,
} from './real-tokens.ts';

const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
const SOURCE_VERSION = 'nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.54.15;vgpu=0x12';

function standInNode(name: string): FleetNodeSpec {
  return {
    name, labels: {}, taints: [], unschedulable: false, agent: true,
    gpus: [{ vendor: 'nvidia', board: 'H100-PCIE-80GB', hostDriver: '550.90.07', vgpuVersion: 0x12, vgpuRange: [0x10, 0x13], typeId: 'nvidia-1012', devices: 2, spare: 0 }],
  };
}

function mdevDevice(name: string, nodeName: string): ApplyObject {
  return {
    apiVersion: API_VERSION,
    kind: 'MdevDevice',
    metadata: { name, labels: { [LABEL_NODE]: nodeName } },
    spec: {
      nodeName, id: name.slice(nodeName.length + 1), kind: 'mdev', type: { id: 'nvidia-1012', deviceApi: 'vfio-pci' },
      parent: { address: '0000:41:00.4', vendorId: '10de', deviceId: '2331', driver: 'nvidia' },
    },
  } as ApplyObject;
}

function probe(name: string, nodeName: string, devices: string[]): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: 'MdevProbe',
    metadata: { name, labels: { [LABEL_NODE]: nodeName } },
    spec: { nodeName, typeId: 'nvidia-1012', sourceVersion: SOURCE_VERSION, devices },
  };
}

/** Runs `write` until it fails with a ValidatingAdmissionPolicy refusal (policies reach the API server asynchronously). */
async function refusedByPolicy(write: () => Promise<unknown>): Promise<{ code?: number; message?: string }> {
  return waitFor('a ValidatingAdmissionPolicy refusal', async () => {
    try {
      await write();
      return undefined;
    } catch (err) {
      const s = apiStatus(err);
      return s.message?.includes('ValidatingAdmissionPolicy') ? s : undefined;
    }
  }, 30_000);
}

async function refusal(write: () => Promise<unknown>): Promise<{ code?: number; message?: string }> {
  try {
    await write();
  } catch (err) {
    return apiStatus(err);
  }
  throw new Error('the write was accepted');
}

describe('agent with a real token bound to a Pod on node-a (Pending pod: no kubelet), the chart\'s RBAC and node-confinement policy; fake sysfs tree as the node\'s STAND-IN', function () {
  this.timeout(120_000);
  const admin = testKubeConfig();
  const nodeA = uniqueName('node-a');
  const nodeB = uniqueName('node-b');
  const calls = new CallRecorder();
  let ids: ChartIdentities;
  let podToken: string;
  let plainToken: string;
  let agent: AgentHandle | undefined;
  let tree: FakeTree | undefined;
  /** The uuid of the device the "vanished" test removes from the tree. */
  let vanishing: string | undefined;

  const asAgentOnA = () => tokenKubeConfig(admin, podToken);
  const devicePath = (name?: string) => resourcePath(MDEV_DEVICE_RESOURCE, name ? { name } : {});

  before(async () => {
    await installCrds();
    ids = await installChartIdentities(uniqueName('rbacagent'), 'enforce');
    const user = `system:serviceaccount:${ids.agentNamespace}:${ids.agentServiceAccount}`;
    await waitUntilAllowed(user, 'patch', 'mdevdevices.mdev-operator.io');
    await waitUntilAllowed(user, 'update', 'leases.coordination.k8s.io', ids.namespace);
    await ensureNodeObject(admin, nodeA);
    await ensureNodeObject(admin, nodeB);
    podToken = await podBoundToken(admin, { namespace: ids.agentNamespace, serviceAccount: ids.agentServiceAccount, podName: `agent-${nodeA}`, nodeName: nodeA });
    plainToken = await requestToken(admin, ids.agentNamespace, ids.agentServiceAccount);
  });

  after(async () => {
    await agent?.stop();
    tree?.dispose();
    for (const node of [nodeA, nodeB]) {
      await kubeRequest(admin, { method: 'DELETE', path: devicePath(), query: { labelSelector: `${LABEL_NODE}=${node}` } }).catch(() => undefined);
      await kubeRequest(admin, { method: 'DELETE', path: resourcePath(MDEV_PROBE_RESOURCE), query: { labelSelector: `${LABEL_NODE}=${node}` } }).catch(() => undefined);
      await kubeRequest(admin, { method: 'DELETE', path: resourcePath(MDEV_NODES, { name: node }) }).catch(() => undefined);
      await kubeRequest(admin, { method: 'DELETE', path: `/api/v1/nodes/${node}` }).catch(() => undefined);
    }
    if (ids) await removeChartIdentities(ids);
  });

  it('carries node-a in the pod-bound token (TokenReview), and no node in a token minted without a pod', async () => {
    const bound = await reviewToken(admin, podToken);
    expect(bound.authenticated, bound.error).to.equal(true);
    expect(bound.user?.username).to.equal(`system:serviceaccount:${ids.agentNamespace}:${ids.agentServiceAccount}`);
    expect(bound.user?.extra?.[NODE_NAME_EXTRA]).to.deep.equal([nodeA]);
    expect(bound.user?.extra?.['authentication.kubernetes.io/pod-name']).to.deep.equal([`agent-${nodeA}`]);
    const plain = await reviewToken(admin, plainToken);
    expect(plain.authenticated, plain.error).to.equal(true);
    expect(plain.user?.extra?.[NODE_NAME_EXTRA]).to.equal(undefined);
  });

  it("runs the real agent with it: node-a's MdevDevices, MdevNode and Lease are written and renewed, a probe answered, nothing refused", async () => {
    const built = buildNodeTree(standInNode(nodeA));
    tree = built.tree;
    vanishing = [...built.devices.values()][0]?.[0];
    const io = new FakeSysfs(tree);
    const config: AgentConfig = {
      nodeName: nodeA, sysfsRoot: tree.layout.sysRoot, mdevctlRoot: tree.layout.mdevctlRoot, backend: 'simulated', namespace: ids.namespace, ownerConfigMap: ids.ownerConfigMap,
      resyncIntervalMs: 2_000, leaseDurationMs: 10_000, leaseRenewMs: 500, metricsPort: 0, healthPort: 0, logLevel: 'info',
    };
    // One DRA claim device on the node (kubelet stand-in data), so the agent watches its node's ResourceSlices too.
    const claimDevice = { namespace: 'vms', pod: 'virt-launcher-vm-x', container: 'compute', claim: { namespace: 'vms', name: 'vm-x-gpu' }, driver: 'gpu.example.com', pool: nodeA, device: 'vgpu-0' };
    agent = await startAgent(config, { kc: tokenKubeConfig(admin, podToken, calls), backend: new SysfsBackend(io, 'simulated'), io, podDevices: async () => [claimDevice], serveHttp: false });

    const devices = (await kubeRequest(admin, { method: 'GET', path: devicePath(), query: { labelSelector: `${LABEL_NODE}=${nodeA}` } })) as { items: Array<{ metadata: { name: string }; status?: { migrationVersion?: string } }> };
    expect(devices.items).to.have.length(2);
    expect(devices.items.every((d) => d.status?.migrationVersion), 'status written through /status').to.equal(true);
    const mdevNode = (await kubeRequest(admin, { method: 'GET', path: resourcePath(MDEV_NODES, { name: nodeA }) })) as { spec: { nodeName: string } };
    expect(mdevNode.spec.nodeName).to.equal(nodeA);
    // Renewed, not only created: an update of the Lease went through the policy too.
    await waitFor('a renewal of the agent Lease', async () => (calls.matching('PUT', /\/leases\//).some((c) => c.status === 200) ? true : undefined), 30_000);
    const lease = (await kubeRequest(admin, { method: 'GET', path: resourcePath(LEASES, { namespace: ids.namespace, name: agentLeaseName(nodeA) }) })) as { metadata: { ownerReferences?: { kind: string; name: string }[] }; spec: { holderIdentity: string } };
    expect(lease.spec.holderIdentity).to.equal(nodeA);
    expect(lease.metadata.ownerReferences?.map((r) => `${r.kind}/${r.name}`), 'deleted with the release').to.deep.equal([`ConfigMap/${ids.ownerConfigMap}`]);

    const probeName = `${nodeA}.${uniqueName('p').slice(2)}`;
    await kubeRequest(admin, { method: 'POST', path: resourcePath(MDEV_PROBE_RESOURCE), body: probe(probeName, nodeA, devices.items.map((d) => d.metadata.name)) });
    const answered = await waitFor('the agent to answer the probe', async () => {
      const p = (await kubeRequest(admin, { method: 'GET', path: resourcePath(MDEV_PROBE_RESOURCE, { name: probeName }) })) as { status?: { results?: Array<{ accepted: boolean }> } };
      return p.status?.results?.length === 2 ? p.status.results : undefined;
    });
    expect(answered.every((r) => r.accepted), 'same branch, newer driver: accepted').to.equal(true);

    expect(calls.matching('PATCH', /\/mdevdevices\/[^/]+$/).every((c) => c.status === 200 || c.status === 201), calls.describe()).to.equal(true);
    // The API server shows the answer before the agent's client has recorded the response: wait for it.
    await waitFor('the agent\'s probe status write in the call log', async () => (calls.matching('PATCH', /\/mdevprobes\/[^/]+\/status$/).some((c) => c.status === 200) ? true : undefined), 30_000);
    expect(calls.refused(), calls.describe(calls.refused())).to.deep.equal([]);
  });

  it('deletes the MdevDevice of a device that vanished from node-a', async () => {
    const uuid = vanishing as string;
    tree?.removeMdev(uuid);
    await agent?.rediscover();
    const gone = await refusal(() => kubeRequest(admin, { method: 'GET', path: devicePath(`${nodeA}.${uuid}`) }));
    expect(gone.code).to.equal(404);
    expect(calls.matching('DELETE', /\/mdevdevices\//).map((c) => c.status)).to.deep.equal([200]);
  });

  it('used every permission the chart grants the agent, and only those (least privilege)', async () => {
    await waitFor('the agent\'s ResourceSlice watch', async () => (usedPermissions(calls.calls).includes('resource.k8s.io/resourceslices:watch') ? true : undefined), 10_000);
    expect(calls.matching('GET', /\/(pods|resourceslices)$/).every((c) => decodeURIComponent(c.path).includes(`fieldSelector=spec.nodeName=${nodeA}`)), 'only its own node\'s pods and slices').to.equal(true);
    expect(calls.refused(), calls.describe(calls.refused())).to.deep.equal([]);
    expect(usedPermissions(calls.calls)).to.deep.equal(grantedPermissions(ids, `${ids.fullname}-agent`));
  });

  it("refuses a direct write of node-b's MdevDevice by the policy, with its message", async () => {
    const name = `${nodeB}.6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f`;
    const apply = (dryRun: boolean) => serverSideApply(asAgentOnA(), MDEV_DEVICE_RESOURCE, mdevDevice(name, nodeB), { fieldManager: FIELD_MANAGER_AGENT, force: true, ...(dryRun ? { dryRun: true } : {}) });
    // Dry runs pass admission too: wait for the policy without risking a real write.
    await refusedByPolicy(() => apply(true));
    const s = await refusal(() => apply(false));
    expect(s.code).to.equal(403);
    expect(s.message).to.contain('ValidatingAdmissionPolicy');
    expect(s.message).to.contain(`agent on ${nodeA} may only write objects of its own node; this MdevDevice ${name} belongs to ${nodeB}`);
    const gone = await refusal(() => kubeRequest(admin, { method: 'GET', path: devicePath(name) }));
    expect(gone.code, 'nothing was stored').to.equal(404);
  });

  it("refuses answering node-b's MdevProbe (status update) by the policy", async () => {
    const name = `${nodeB}.${uniqueName('p').slice(2)}`;
    await kubeRequest(admin, { method: 'POST', path: resourcePath(MDEV_PROBE_RESOURCE), body: probe(name, nodeB, [`${nodeB}.6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f`]) });
    const answer = { status: { observedGeneration: 1, results: [{ device: `${nodeB}.6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f`, accepted: true, reason: 'accepted' }] } };
    const s = await refusedByPolicy(() => mergePatch(asAgentOnA(), MDEV_PROBE_RESOURCE, { name }, answer, { subresource: 'status', fieldManager: FIELD_MANAGER_AGENT }));
    expect(s.code).to.equal(403);
    expect(s.message).to.contain(`agent on ${nodeA} may only write objects of its own node; this MdevProbe ${name} belongs to ${nodeB}`);
  });

  it("refuses node-b's Lease and the controller's leader-election Lease by the policy", async () => {
    const lease = (name: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: ids.namespace }, spec: { holderIdentity: nodeA, leaseDurationSeconds: 40 } });
    const create = (name: string) => () => kubeRequest(asAgentOnA(), { method: 'POST', path: resourcePath(LEASES, { namespace: ids.namespace }), body: lease(name) });
    expect((await refusedByPolicy(create(agentLeaseName(nodeB)))).message).to.contain(`belongs to ${nodeB}`);
    expect((await refusedByPolicy(create('mdev-operator-controller'))).message).to.contain('belongs to no node (agent leases are named mdev-agent.<node>)');
  });

  it('cannot read Secrets, ConfigMaps other than the owner, or create MdevMigrations (RBAC 403)', async () => {
    const secrets = await refusal(() => kubeRequest(asAgentOnA(), { method: 'GET', path: `/api/v1/namespaces/${ids.namespace}/secrets` }));
    expect(secrets.code).to.equal(403);
    expect(secrets.message).to.contain('cannot list resource "secrets"');
    const configMap = await refusal(() => kubeRequest(asAgentOnA(), { method: 'GET', path: `/api/v1/namespaces/${ids.namespace}/configmaps/kube-root-ca.crt` }));
    expect(configMap.code, 'get is granted by resourceNames on the owner only').to.equal(403);
    const body = { apiVersion: API_VERSION, kind: 'MdevMigration', metadata: { name: 'forged', namespace: ids.namespace }, spec: { vmiName: 'vm' } };
    const migration = await refusal(() => kubeRequest(asAgentOnA(), { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: ids.namespace }), body }));
    expect(migration.code).to.equal(403);
    expect(migration.message).to.contain('cannot create resource "mdevmigrations"');
  });

  it('refuses a token of the agent ServiceAccount that is not bound to a pod, with the "pod-bound service-account token" message', async () => {
    const plain = tokenKubeConfig(admin, plainToken);
    const name = `${nodeA}.0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d`;
    const s = await refusedByPolicy(() => serverSideApply(plain, MDEV_DEVICE_RESOURCE, mdevDevice(name, nodeA), { fieldManager: FIELD_MANAGER_AGENT, force: true }));
    expect(s.code).to.equal(403);
    expect(s.message).to.contain('the agent must use a pod-bound service-account token (ServiceAccountTokenPodNodeInfo)');
  });
});
