// The chart's RBAC and agent node-confinement policy on the real API server after a real
// `helm install`, driven by an IMPERSONATED agent identity whose node-name extra stands in for a
// pod-bound token. The same rules with REAL tokens (TokenRequest bound to a Pod on node-a) and the
// real agent are proven in test/integration/rbac/agent-token.test.ts.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';
import { CHART_DIR, runHelm } from '../../../scripts/render-manifests.ts';
import { kubectl, testKubeconfigPath, uniqueName, type RunResult } from '../../support/cluster.ts';

const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

interface Kubeconfig { users: Array<{ name: string; user: Record<string, unknown> }> }

/** A kubeconfig that impersonates `user`, optionally with the node-name extra of a pod-bound token. */
async function impersonatingKubeconfig(dir: string, user: string, nodeName?: string): Promise<string> {
  const kc = parse(await readFile(testKubeconfigPath(), 'utf8')) as Kubeconfig;
  for (const u of kc.users) {
    u.user.as = user;
    if (nodeName) u.user['as-user-extra'] = { [NODE_NAME_EXTRA]: [nodeName] };
  }
  const path = join(dir, `${uniqueName('kc')}.yaml`);
  await writeFile(path, stringify(kc));
  return path;
}

function kubectlAs(kubeconfig: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Repeats `attempt` until `done` holds: RBAC and admission policies reach the API server's caches asynchronously. */
async function eventually(attempt: () => Promise<RunResult>, done: (r: RunResult) => boolean): Promise<RunResult> {
  let r = await attempt();
  for (let i = 0; i < 60 && !done(r); i++) {
    await new Promise((res) => setTimeout(res, 500));
    r = await attempt();
  }
  return r;
}

async function mdevDevice(name: string, nodeName: string): Promise<string> {
  const example = parse(await readFile(join(REPO_ROOT, 'docs/examples/mdevdevice.yaml'), 'utf8')) as Record<string, unknown> & { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  delete example.status;
  example.metadata = { name, labels: { 'mdev-operator.io/node': nodeName } };
  example.spec = { ...example.spec, nodeName };
  return JSON.stringify(example);
}

const lease = (name: string, namespace: string, holder: string) => JSON.stringify({
  apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: { holderIdentity: holder, leaseDurationSeconds: 40 },
});

describe('agent node confinement and RBAC (impersonated agent identity with a node-name extra, standing in for a pod-bound token)', function () {
  this.timeout(240_000);
  const rel = uniqueName('mdevvap');
  const ns = `${rel}-system`;
  const agentNs = `${rel}-agent`;
  const fullname = `${rel}-mdev-operator`;
  const agentUser = `system:serviceaccount:${agentNs}:${fullname}-agent`;
  const nodeA = uniqueName('node-a');
  const nodeB = uniqueName('node-b');
  let dir: string;
  let asAgentOnA: string;
  let asAgentWithoutNode: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdev-vap-'));
    const crds = await kubectl(['apply', '-f', join(REPO_ROOT, 'crds')]);
    expect(crds.code, crds.stderr).to.equal(0);
    const r = await runHelm(['install', rel, CHART_DIR, '--kubeconfig', testKubeconfigPath(), '--namespace', ns, '--create-namespace',
      '--set', `agent.namespace=${agentNs}`, '--set', 'crds.install=false', '--set', 'webhook.mode=off']);
    expect(r.code, r.stderr).to.equal(0);
    asAgentOnA = await impersonatingKubeconfig(dir, agentUser, nodeA);
    asAgentWithoutNode = await impersonatingKubeconfig(dir, agentUser);
  });

  after(async () => {
    await kubectl(['delete', 'mdevdevices.mdev-operator.io', '-l', `mdev-operator.io/node in (${nodeA},${nodeB})`, '--ignore-not-found', '--wait=false']);
    await runHelm(['uninstall', rel, '--namespace', ns, '--kubeconfig', testKubeconfigPath()]);
    await kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
    await rm(dir, { recursive: true, force: true });
  });

  it("lets the agent on node-a create node-a's MdevDevice", async () => {
    const body = await mdevDevice(uniqueName(nodeA), nodeA);
    const r = await eventually(() => kubectlAs(asAgentOnA, ['create', '-f', '-'], body), (x) => x.code === 0);
    expect(r.code, r.stderr).to.equal(0);
  });

  it("refuses the agent on node-a node-b's MdevDevice, naming both nodes", async () => {
    const name = uniqueName(nodeB);
    const body = await mdevDevice(name, nodeB);
    const r = await eventually(() => kubectlAs(asAgentOnA, ['create', '-f', '-'], body), (x) => /ValidatingAdmissionPolicy/.test(x.stderr));
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain(`agent on ${nodeA} may only write objects of its own node; this MdevDevice ${name} belongs to ${nodeB}`);
  });

  it("refuses the agent on node-a deleting node-b's MdevDevice (checked against oldObject)", async () => {
    const name = uniqueName(nodeB);
    const created = await kubectl(['create', '-f', '-'], { input: await mdevDevice(name, nodeB) });
    expect(created.code, created.stderr).to.equal(0);
    const r = await eventually(() => kubectlAs(asAgentOnA, ['delete', 'mdevdevices.mdev-operator.io', name]), (x) => /ValidatingAdmissionPolicy/.test(x.stderr));
    expect(r.stderr).to.contain(`belongs to ${nodeB}`);
    expect((await kubectl(['get', 'mdevdevices.mdev-operator.io', name])).code, 'still there').to.equal(0);
  });

  it('refuses an agent token without the node name (not pod-bound)', async () => {
    const body = await mdevDevice(uniqueName(nodeA), nodeA);
    const r = await eventually(() => kubectlAs(asAgentWithoutNode, ['create', '-f', '-'], body), (x) => /ValidatingAdmissionPolicy/.test(x.stderr));
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('the agent must use a pod-bound service-account token (ServiceAccountTokenPodNodeInfo)');
  });

  it("lets the agent renew only its own node's lease, not the controller's leader-election lease", async () => {
    const own = await eventually(() => kubectlAs(asAgentOnA, ['create', '-f', '-'], lease(`mdev-agent.${nodeA}`, ns, nodeA)), (x) => x.code === 0);
    expect(own.code, own.stderr).to.equal(0);
    const other = await kubectlAs(asAgentOnA, ['create', '-f', '-'], lease(`mdev-agent.${nodeB}`, ns, nodeA));
    expect(other.stderr).to.contain(`belongs to ${nodeB}`);
    const leader = await kubectlAs(asAgentOnA, ['create', '-f', '-'], lease(`${fullname}-controller`, ns, nodeA));
    expect(leader.stderr).to.contain('belongs to no node (agent leases are named mdev-agent.<node>)');
  });

  it('denies the agent Secrets and MdevMigrations (RBAC)', async () => {
    const secrets = await kubectlAs(asAgentOnA, ['get', 'secrets', '-n', ns]);
    expect(secrets.code).to.not.equal(0);
    expect(secrets.stderr).to.match(/forbidden/i);
    const can = await kubectlAs(asAgentOnA, ['auth', 'can-i', 'create', 'mdevmigrations.mdev-operator.io', '-n', 'default']);
    expect(can.stdout.trim()).to.equal('no');
  });

  it('does not apply the policy to other users (an admin writes any node)', async () => {
    const r = await kubectl(['create', '-f', '-'], { input: await mdevDevice(uniqueName(nodeB), nodeB) });
    expect(r.code, r.stderr).to.equal(0);
  });
});
