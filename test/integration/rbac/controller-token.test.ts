// The controller (`startManager`, in process) with nothing but a REAL token of the chart's
// controller ServiceAccount (TokenRequest bound to a Pending pod in the release namespace) and the
// chart's RBAC, on the real API server: leader election, caches, probes, reservations, VMIMs,
// Events, the admission webhook (TLS Secret, caBundle, admission records) and a full reconcile to
// Succeeded. STAND-INS: the nodes (fake sysfs trees and simulated drivers under the REAL agent,
// each with its own token bound to a pod on its node), the kubelet (PodResources from launcher
// pods) and KubeVirt (the simulator moves VMIs).
import { expect } from 'chai';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { startAgent, type AgentHandle } from '../../../src/agent/agent.ts';
import type { AgentConfig } from '../../../src/agent/config.ts';
import { SysfsBackend } from '../../../src/compat/sysfs-backend.ts';
import { LEADER_LEASE_NAME, startManager, type ManagerHandle } from '../../../src/controller/manager.ts';
import { MDEV_MIGRATIONS, MDEV_PROBES } from '../../../src/controller/resources.ts';
import { LABEL_NODE } from '../../../src/api/v1alpha1/index.ts';
import { jsonPatch } from '../../../src/kube/apply.ts';
import { apiStatus } from '../../../src/kube/errors.ts';
import { LEASES } from '../../../src/kube/lease-store.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { createVmim, getVmi } from '../../../src/kubevirt/client.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { VMIM_RESOURCE } from '../../../src/kubevirt/types.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import { FleetKubelet } from '../../../dev/sim/fleet/kubelet.ts';
import { buildNodeTree } from '../../../dev/sim/fleet/node-tree.ts';
import type { FleetNodeSpec, GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { admissionWebhookStarter } from '../../../src/webhook/admission-webhook.ts';
import { kubectl, testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { createMigration, createNamespace, deleteNamespace, getMigration, installCrds, listEvents, vmimsOf, waitFor, waitForPhase } from '../controller/helpers.ts';
import {
  CallRecorder,
  grantedPermissions,
  installChartIdentities,
  podBoundToken,
  removeChartIdentities,
  tokenKubeConfig,
  usedPermissions,
  waitUntilAllowed,
  type ChartIdentities,
} from './real-tokens.ts';

const log = loggerFor('rbac-controller-test');

const H100 = (hostDriver: string, devices: number): GpuSpec => ({
  vendor: 'nvidia', board: 'H100-PCIE-80GB', hostDriver, vgpuVersion: 0x12, vgpuRange: [0x10, 0x13], typeId: 'nvidia-1012', devices, spare: 0,
});

/**
 * Granted by the chart and possibly not exercised here (race or long-timer paths), each with the code path that needs it. Anything
 * else the chart grants and the controller never used fails the least-privilege test.
 */
const UNEXERCISED: Record<string, string> = {
  'mdev-operator.io/mdevmigrations/finalizers:update':
    'the VMIM owner reference has blockOwnerDeletion; only API servers with OwnerReferencesPermissionEnforcement (OpenShift) check it',
  'mdev-operator.io/mdevprobes:patch': 'ProbeClient widens an existing probe to more target devices (concurrent decisions on one class)',
  'mdev-operator.io/mdevprobes:delete': 'the probe sweeper deletes probes past their TTL, and forgetNode when a device string changes',
  'kubevirt.io/virtualmachineinstancemigrations:delete': 'a failed or timed-out attempt deletes its VMIM before the next one',
  'kubevirt.io/virtualmachineinstancemigrations:get': 'VmimDriver adopts a VMIM that already exists under the attempt name (controller restart)',
  'mdev-operator.io/mdevmigrations:delete': 'the webhook removes its admission record when the VMIM it admitted is refused later in admission',
  'mdev-operator.io/mdevmigrations:get': 'the webhook re-reads an admission record that already exists (retried admission)',
  'core/secrets:patch': 'the TLS keeper renews the serving certificate (90 days) or rotates the CA',
  'mdev-operator.io/mdevdevices/status:patch': 'clears the deprecated status.reservation a controller from before capacity claims left on a device',
  'mdev-operator.io/mdevnodes:get': 'CapacityClaims reads an MdevNode its cache does not hold yet, or again after a resourceVersion conflict (409)',
  'core/pods:list': 'a migration whose target pod stays Pending past --target-pending-timeout is given up after reading that pod',
  'core/events:list': 'the cause of a VMIM that failed without failureReason is read from its Warning Events',
  'mdev-operator.io/mdevprobes:get': 'ProbeClient reads a probe another writer created first (409 AlreadyExists) or widened concurrently',
  'kubevirt.io/virtualmachineinstances:get':
    'the webhook reads a VMI its cache does not hold yet before admitting a VMIM for it (vmi-lookup fetch); the reconciler reads a failure cause from the VMI KubeVirt has not copied to the VMIM yet',
};

/**
 * Helm's part in a real install: it creates the webhook configurations with a `service` reference.
 * The local control plane cannot route a Service, so the webhook registers `url` configurations
 * itself, which needs these verbs; a test-only role grants them, and they are excluded below.
 */
function urlRegistrationRole(ids: ChartIdentities): string {
  const name = `${ids.fullname}-test-url-webhooks`;
  const kinds = ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'];
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name },
        rules: [
          { apiGroups: ['admissionregistration.k8s.io'], resources: kinds, verbs: ['create'] },
          { apiGroups: ['admissionregistration.k8s.io'], resources: kinds, resourceNames: [ids.fullname], verbs: ['update', 'delete'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [{ kind: 'ServiceAccount', name: ids.controllerServiceAccount, namespace: ids.namespace }],
      },
    ],
  });
}
const URL_REGISTRATION = ['create', 'update', 'delete'].flatMap((v) =>
  ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'].map((r) => `admissionregistration.k8s.io/${r}:${v}`));

async function httpStatus(port: number, path: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
}

describe('controller with a real ServiceAccount token and only the chart\'s RBAC: full reconcile and webhook (STAND-IN nodes running the real agent with pod-bound tokens, kubelet and KubeVirt stand-ins)', function () {
  this.timeout(180_000);
  const admin = testKubeConfig();
  const controllerCalls = new CallRecorder();
  const agentCalls = new CallRecorder();
  const p = uniqueName('tok');
  const n = (i: number): string => `${p}-${i}`;
  const specs: FleetNodeSpec[] = [
    { name: n(1), labels: {}, taints: [], unschedulable: false, agent: false, gpus: [H100('550.54.15', 3)] },
    { name: n(2), labels: {}, taints: [], unschedulable: false, agent: false, gpus: [H100('550.90.07', 3)] }, // same branch, newer: accepts
    { name: n(3), labels: {}, taints: [], unschedulable: false, agent: false, gpus: [H100('535.161.08', 3)] }, // other branch: EINVAL
  ];
  const nodes = specs.map((s) => s.name);
  const agents: AgentHandle[] = [];
  const trees: FakeTree[] = [];
  let ids: ChartIdentities;
  let vmNs: string;
  let fleet: FleetHandle | undefined;
  let kubelet: FleetKubelet | undefined;
  let manager: ManagerHandle | undefined;

  async function startAgentWithOwnToken(spec: FleetNodeSpec): Promise<void> {
    const token = await podBoundToken(admin, { namespace: ids.agentNamespace, serviceAccount: ids.agentServiceAccount, podName: `agent-${spec.name}`, nodeName: spec.name });
    const { tree } = buildNodeTree(spec);
    trees.push(tree);
    const io = new FakeSysfs(tree);
    const config: AgentConfig = {
      nodeName: spec.name, sysfsRoot: tree.layout.sysRoot, mdevctlRoot: tree.layout.mdevctlRoot, backend: 'simulated', namespace: ids.namespace, ownerConfigMap: ids.ownerConfigMap,
      resyncIntervalMs: 1_000, leaseDurationMs: 40_000, leaseRenewMs: 5_000, metricsPort: 0, healthPort: 0, logLevel: 'info',
    };
    const agent = await startAgent(config, {
      kc: tokenKubeConfig(admin, token, agentCalls),
      backend: new SysfsBackend(io, 'simulated'),
      io,
      podDevices: async () => kubelet?.podDevices(spec.name) ?? [],
      serveHttp: false,
      logger: log.child({ node: spec.name }),
    });
    agents.push(agent);
  }

  before(async () => {
    await installCrds();
    await installKubevirtStandins(admin);
    ids = await installChartIdentities(uniqueName('rbacctl'), 'enforce');
    const registration = await kubectl(['apply', '-f', '-'], { input: urlRegistrationRole(ids) });
    expect(registration.code, registration.stderr).to.equal(0);
    const controllerUser = `system:serviceaccount:${ids.namespace}:${ids.controllerServiceAccount}`;
    const agentUser = `system:serviceaccount:${ids.agentNamespace}:${ids.agentServiceAccount}`;
    await waitUntilAllowed(controllerUser, 'watch', 'mdevmigrations.mdev-operator.io');
    await waitUntilAllowed(controllerUser, 'create', 'leases.coordination.k8s.io', ids.namespace);
    await waitUntilAllowed(controllerUser, 'create', 'validatingwebhookconfigurations.admissionregistration.k8s.io');
    await waitUntilAllowed(agentUser, 'patch', 'mdevdevices.mdev-operator.io');
    await waitUntilAllowed(agentUser, 'create', 'leases.coordination.k8s.io', ids.namespace);
    vmNs = uniqueName('rbacvm');
    await createNamespace(admin, vmNs);

    // Nodes, the KubeVirt simulator and launcher pods with admin rights (they stand in for the
    // kubelet and KubeVirt); the agents run below with their own tokens.
    fleet = await startFleet({ kc: admin, namespace: ids.namespace, specs, kubevirt: { namespace: vmNs, stepDelayMs: 20 }, installKubevirtCrds: false });
    kubelet = new FleetKubelet(admin, log);
    // The kubelet's listener cannot wait; rediscover() never rejects (a pass logs its own failure).
    kubelet.onNodeChange((node) => void agents.find((a) => a.nodeName === node)?.rediscover());
    await kubelet.start();
    for (const spec of specs) await startAgentWithOwnToken(spec);

    const token = await podBoundToken(admin, { namespace: ids.namespace, serviceAccount: ids.controllerServiceAccount, podName: 'controller-0' });
    const kc: KubeConfig = tokenKubeConfig(admin, token, controllerCalls);
    manager = await startManager({
      kc,
      namespace: ids.namespace,
      leaderElect: true,
      identity: 'controller-0',
      healthPort: 0,
      probeTimeoutMs: 5_000,
      sweepIntervalMs: 1_000,
      watchTimeoutSeconds: 30,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 1_000,
      ownerConfigMap: ids.ownerConfigMap,
      webhook: {
        port: 0,
        start: admissionWebhookStarter({
          mode: 'enforce',
          configName: ids.fullname,
          secretName: `${ids.fullname}-webhook-tls`,
          serviceName: `${ids.fullname}-webhook`,
          ownerConfigMap: ids.ownerConfigMap,
          urlHost: '127.0.0.1',
          // Only this test's namespace: the API server is shared with other tests.
          extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [vmNs] }],
          tlsCheckIntervalMs: 1_000,
          // A test cleans up after itself; the controller command never removes its gate (issue 18).
          removeConfigurationsOnStop: true,
        }),
      },
    });
    await manager.waitUntilRunning();
  });

  after(async () => {
    await manager?.stop();
    for (const a of agents) await a.stop();
    await kubelet?.stop();
    await fleet?.stop({ deleteNodes: true });
    for (const t of trees) t.dispose();
    // Probes are cluster-scoped and outlive the controller that asked (its sweeper stopped with it).
    await kubeRequest(admin, { method: 'DELETE', path: resourcePath(MDEV_PROBES), query: { labelSelector: `${LABEL_NODE} in (${nodes.join(',')})` } }).catch(() => undefined);
    if (vmNs) await deleteNamespace(admin, vmNs);
    if (ids) {
      await kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: urlRegistrationRole(ids) });
      await removeChartIdentities(ids);
    }
  });

  it('leads through its Lease and serves /healthz, /readyz and /metrics', async () => {
    expect(manager?.isLeader()).to.equal(true);
    const lease = (await kubeRequest(admin, { method: 'GET', path: resourcePath(LEASES, { namespace: ids.namespace, name: LEADER_LEASE_NAME }) })) as { metadata: { ownerReferences?: { kind: string; name: string }[] }; spec: { holderIdentity: string } };
    expect(lease.spec.holderIdentity).to.equal('controller-0');
    expect(lease.metadata.ownerReferences?.map((r) => `${r.kind}/${r.name}`), 'deleted with the release').to.deep.equal([`ConfigMap/${ids.ownerConfigMap}`]);
    const port = manager?.healthPort as number;
    expect(await httpStatus(port, '/healthz')).to.equal(200);
    await waitFor('/readyz to pass (caches synced, webhook TLS loaded)', async () => ((await httpStatus(port, '/readyz')) === 200 ? true : undefined));
    expect(await httpStatus(port, '/metrics')).to.equal(200);
  });

  it('keeps the webhook TLS Secret and patches its CA into caBundle when a configuration lacks it (as the chart renders them)', async () => {
    const secret = (await kubeRequest(admin, { method: 'GET', path: `/api/v1/namespaces/${ids.namespace}/secrets/${ids.fullname}-webhook-tls` })) as { metadata: { ownerReferences?: { kind: string; name: string }[] }; type: string; data: Record<string, string> };
    expect(secret.type).to.equal('kubernetes.io/tls');
    expect(secret.metadata.ownerReferences?.map((r) => `${r.kind}/${r.name}`), 'deleted with the release').to.deep.equal([`ConfigMap/${ids.ownerConfigMap}`]);
    const ca = Buffer.from(secret.data['ca.crt'] as string, 'base64').toString('utf8').trim();
    for (const kind of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
      const path = `/apis/admissionregistration.k8s.io/v1/${kind}/${ids.fullname}`;
      // Helm renders the configurations without caBundle: the keeper's next pass must fill it in.
      await jsonPatch(admin, { group: 'admissionregistration.k8s.io', version: 'v1', plural: kind, namespaced: false }, { name: ids.fullname }, [{ op: 'remove', path: '/webhooks/0/clientConfig/caBundle' }]);
      const bundle = await waitFor(`the controller to patch caBundle of ${kind}/${ids.fullname}`, async () => {
        const cfg = (await kubeRequest(admin, { method: 'GET', path })) as { webhooks: { clientConfig: { caBundle?: string } }[] };
        const b64 = cfg.webhooks[0]?.clientConfig.caBundle;
        return b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
      }, 20_000);
      expect(bundle).to.contain(ca);
    }
    expect(controllerCalls.matching('PATCH', /webhookconfigurations\//).map((c) => c.status)).to.include(200);
  });

  it('moves a VMI for a requested MdevMigration: probes, capacity claim, VMIM, Events, Succeeded, the device it got recorded', async () => {
    await fleet!.startVm({ namespace: vmNs, name: 'vm-a', node: n(1) });
    await createMigration(admin, vmNs, 'move-a', { vmiName: 'vm-a', targetNodes: nodes });
    const m = await waitForPhase(admin, vmNs, 'move-a', ['Succeeded', 'Failed'], 60_000);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(n(2));
    expect(m.status?.candidates?.find((c) => c.node === n(3))?.verdict).to.equal('Incompatible');
    expect(await vmimsOf(admin, vmNs, m)).to.have.length(1);
    expect((await getVmi(admin, vmNs, 'vm-a'))?.status?.nodeName).to.equal(n(2));
    await waitFor('the device the VMI got to be recorded', async () => ((await getMigration(admin, vmNs, 'move-a'))?.status?.conditions?.some((c) => c.type === 'TargetDeviceVerified' && c.status === 'True') ? true : undefined));
    const reasons = (await listEvents(admin, vmNs, 'move-a')).map((e) => e.reason);
    expect(reasons).to.include.members(['Probing', 'Claimed', 'Migrating', 'Succeeded']);
  });

  it('admits a VMIM created directly (as by kubectl drain): pins the compatible node, records an MdevMigration, follows it to Succeeded', async () => {
    await fleet!.startVm({ namespace: vmNs, name: 'vm-b', node: n(1) });
    const vmim = await createVmim(admin, { namespace: vmNs, name: 'drain-b', vmiName: 'vm-b' });
    expect(vmim.spec.addedNodeSelector).to.deep.equal({ 'kubernetes.io/hostname': n(2) });
    const record = await waitForPhase(admin, vmNs, 'vmim-drain-b', ['Succeeded', 'Failed'], 60_000);
    expect(record.status?.phase, record.status?.message).to.equal('Succeeded');
    expect((await getVmi(admin, vmNs, 'vm-b'))?.status?.nodeName).to.equal(n(2));
  });

  it("denies a VMIM that pins an incompatible node, naming the node's refusal", async () => {
    await fleet!.startVm({ namespace: vmNs, name: 'vm-c', node: n(1) });
    let denied: string | undefined;
    try {
      await createVmim(admin, { namespace: vmNs, name: 'pin-bad', vmiName: 'vm-c', addedNodeSelector: { 'kubernetes.io/hostname': n(3) } });
    } catch (err) {
      denied = apiStatus(err).message;
    }
    expect(denied).to.include(`node ${n(3)} is not a verified-compatible target`);
    const vmims = (await kubeRequest(admin, { method: 'GET', path: resourcePath(VMIM_RESOURCE, { namespace: vmNs }) })) as { items: { metadata: { name: string } }[] };
    expect(vmims.items.map((v) => v.metadata.name)).to.not.include('pin-bad');
  });

  it('was never refused (no 401 or 403) in anything the controller, its webhook or the agents did', () => {
    expect(controllerCalls.calls.length, 'the recorder saw the controller').to.be.greaterThan(20);
    expect(controllerCalls.refused(), controllerCalls.describe(controllerCalls.refused())).to.deep.equal([]);
    expect(agentCalls.refused(), agentCalls.describe(agentCalls.refused())).to.deep.equal([]);
  });

  it('used only permissions the chart grants, and every one it grants except those named with their code path (least privilege)', () => {
    const granted = grantedPermissions(ids, `${ids.fullname}-controller`);
    const used = usedPermissions(controllerCalls.calls).filter((x) => !URL_REGISTRATION.includes(x));
    expect(used.filter((x) => !granted.includes(x)), 'used but not granted').to.deep.equal([]);
    // A stale excuse hides nothing today but would excuse a grant re-added later without review.
    const stale = Object.keys(UNEXERCISED).filter((x) => !granted.includes(x));
    expect(stale, 'UNEXERCISED names permissions the chart no longer grants: remove them from UNEXERCISED').to.deep.equal([]);
    const unused = granted.filter((x) => !used.includes(x) && !(x in UNEXERCISED));
    expect(unused, `granted but never used: remove them from the chart or name the code path in UNEXERCISED\nused: ${used.join(', ')}`).to.deep.equal([]);
    const migrations = usedPermissions(controllerCalls.matching('POST', new RegExp(`${resourcePath(MDEV_MIGRATIONS, { namespace: vmNs })}$`)));
    expect(migrations, 'the webhook recorded an admission MdevMigration').to.deep.equal(['mdev-operator.io/mdevmigrations:create']);
  });
});
