// `plan-drain` and `explain` against the real kube-apiserver with a STAND-IN fleet (Nodes, agent
// Leases, MdevDevices and the agents' earlier MdevProbe answers written directly) and STAND-IN
// KubeVirt VMIs. The commands run in-process, their stdout captured; once more through the real
// kubectl, which finds the plugin executable kubectl-mdev on PATH.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';
import { CoreV1Api } from '@kubernetes/client-node';
import { API_VERSION, LABEL_NODE, probeObjectName } from '../../../src/api/v1alpha1/index.ts';
import { MDEV_DEVICES, MDEV_PROBES, NODES } from '../../../src/controller/resources.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { explainCommand } from '../../../src/cli/explain-command.ts';
import { planDrainCommand, type DrainPlan } from '../../../src/cli/plan-drain-command.ts';
import { planDrain } from '../../../src/cli/plan-drain.ts';
import { PLUGIN_COMMANDS, runCli } from '../../../src/cli/commands.ts';
import { testKubeconfigPath, testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { listClaims } from '../controller/helpers.ts';
import { createNodeWithAgent, deleteQuietly, GPU_TYPE, gpuVmi, installCrds, publishDevice, REJECT_REASON, VERSION_535, VERSION_550 } from '../webhook/fleet-fixture.ts';
import { apiClient } from '../../support/api-client.ts';

/** Where nothing listens (loopback port 1): a request sent with this context fails to connect. */
const NOWHERE = 'https://127.0.0.1:1';

/**
 * The test cluster's kubeconfig plus a second context, `nowhere`, made the current one: a command
 * reaches the test cluster only if it honours --context with the test cluster's context name.
 */
function kubeconfigWithTwoContexts(dir: string): { path: string; good: string } {
  const doc = parseYaml(readFileSync(testKubeconfigPath(), 'utf8')) as { clusters: unknown[]; contexts: { name: string; context: { cluster: string; user: string } }[]; 'current-context': string };
  const good = doc['current-context'];
  const user = doc.contexts.find((c) => c.name === good)!.context.user;
  doc.clusters.push({ name: 'nowhere', cluster: { server: NOWHERE } });
  doc.contexts.push({ name: 'nowhere', context: { cluster: 'nowhere', user } });
  doc['current-context'] = 'nowhere';
  const path = join(dir, 'two-contexts.yaml');
  writeFileSync(path, toYaml(doc), { mode: 0o600 });
  return { path, good };
}

async function capture(run: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    return { code: await run(), stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

describe('plan-drain and explain on the real kube-apiserver (fleet and KubeVirt stand-ins)', function () {
  this.timeout(120_000);
  const kc = testKubeConfig();
  const core = apiClient(kc, CoreV1Api);
  const ns = uniqueName('drain');
  const opNs = uniqueName('mdev-op');
  const id = ns.slice(-8);
  const [src, t1, t2, bad, mixed] = [`drain-src-${id}`, `tgt1-${id}`, `tgt2-${id}`, `bad-${id}`, `mixed-${id}`];
  const devices: string[] = [];
  const probes: string[] = [];
  const common = ['--kubeconfig', testKubeconfigPath(), '--operator-namespace', opNs];

  /** STAND-IN for an agent's earlier answer: an MdevProbe with a result for each device. */
  async function answeredProbe(node: string, answers: readonly (readonly [string, boolean])[]): Promise<void> {
    const name = probeObjectName(node, GPU_TYPE, VERSION_550);
    const spec = { nodeName: node, typeId: GPU_TYPE, sourceVersion: VERSION_550, devices: answers.map(([d]) => d) };
    await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_PROBES), body: { apiVersion: API_VERSION, kind: 'MdevProbe', metadata: { name, labels: { [LABEL_NODE]: node } }, spec } });
    probes.push(name);
    const results = answers.map(([device, accepted]) => (accepted ? { device, accepted: true, reason: 'accepted' } : { device, accepted: false, errno: 'EINVAL', reason: REJECT_REASON }));
    await mergePatch(kc, MDEV_PROBES, { name }, { status: { results, observedGeneration: 1 } }, { subresource: 'status' });
  }

  before(async () => {
    await installCrds(kc);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespace({ body: { metadata: { name: opNs } } });
    for (const n of [src, t1, t2, bad, mixed]) await createNodeWithAgent(kc, n, opNs);
    for (const vm of ['vm-a', 'vm-b', 'vm-c']) devices.push((await gpuVmi(kc, ns, vm, src)).device);
    for (const [node, version, accepted] of [[t1, VERSION_550, true], [t2, VERSION_550, true], [bad, VERSION_535, false]] as const) {
      const device = await publishDevice(kc, { node, version });
      devices.push(device);
      await answeredProbe(node, [[device, accepted]]);
    }
    // A mixed pool: one free device accepts, one rejects; KubeVirt's device plugin could hand out either.
    const [good, rejecting] = [await publishDevice(kc, { node: mixed, version: VERSION_550 }), await publishDevice(kc, { node: mixed, version: VERSION_535, parent: '0000:42:00.4' })];
    devices.push(good, rejecting);
    await answeredProbe(mixed, [[good, true], [rejecting, false]]);
  });

  after(async () => {
    for (const p of probes) await deleteQuietly(kc, resourcePath(MDEV_PROBES, { name: p }));
    for (const d of devices) await deleteQuietly(kc, resourcePath(MDEV_DEVICES, { name: d }));
    for (const n of [src, t1, t2, bad, mixed]) await deleteQuietly(kc, resourcePath(NODES, { name: n }));
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await core.deleteNamespace({ name: opNs }).catch(() => undefined);
  });

  it('plan-drain on a node with three vGPU VMIs reports two targets and one blocker with its reason (json)', async () => {
    const run = await capture(() => planDrainCommand([src, '-o', 'json', ...common]));
    expect(run.code).to.equal(0);
    const plan = JSON.parse(run.stdout) as DrainPlan;
    expect(plan.vmis.map((v) => v.vmi)).to.deep.equal([`${ns}/vm-a`, `${ns}/vm-b`, `${ns}/vm-c`]);
    expect(plan.summary).to.deep.equal({ withTarget: 2, blocked: 1 });
    expect(plan.vmis.slice(0, 2).map((v) => v.target).sort()).to.deep.equal([t1, t2].sort());
    const blocked = plan.vmis[2]!;
    expect(blocked.target).to.equal(null);
    expect(blocked.reason).to.include(`${bad}: Incompatible (1 of 1 free nvidia-1012 devices incompatible; ${REJECT_REASON})`);
    expect(blocked.reason).to.include(`${mixed}: Incompatible (1 of 2 free nvidia-1012 devices incompatible: pool mixed; ${REJECT_REASON})`);
    // Each planned VMI claims a unit of its target's pool for the next: one free device per target.
    expect(plan.vmis.slice(0, 2).map((v) => v.targetPools)).to.deep.equal([['GRID_H100-4C'], ['GRID_H100-4C']]);
    expect(blocked.reason).to.include(`${t1}: NoCapacity`);
    expect(plan.probes).to.equal(0);
  });

  it('planDrain() returns the rows the command prints (the demo uses it)', async () => {
    const run = await capture(() => planDrainCommand([src, '-o', 'json', ...common]));
    const plan = await planDrain(kc, { node: src, namespace: opNs, probe: false });
    expect(plan).to.deep.equal(JSON.parse(run.stdout));
    expect(plan.vmis.map((v) => v.target === null)).to.deep.equal([false, false, true]);
  });

  it('plan-drain is read only: no capacity is claimed and no probe was created', async () => {
    expect((await listClaims(kc)).filter((c) => [src, t1, t2, bad, mixed].includes(c.node))).to.deep.equal([]);
    const all = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_PROBES) })) as { items: { metadata: { name: string } }[] };
    expect(all.items.map((p) => p.metadata.name).filter((n) => [src, t1, t2, bad, mixed].some((node) => n.startsWith(node))).sort()).to.deep.equal([...probes].sort());
  });

  it('plan-drain renders an aligned table with a summary', async () => {
    const run = await capture(() => planDrainCommand([src, ...common]));
    expect(run.code).to.equal(0);
    const lines = run.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('VMI'))!;
    expect(header).to.match(/^VMI\s+DEVICES\s+TARGET\s+VERIFIED\s+REASON$/);
    const row = lines.find((l) => l.startsWith(`${ns}/vm-c`))!;
    expect(row.indexOf('BLOCKED')).to.equal(header.indexOf('TARGET'));
    expect(run.stdout).to.include('2 with a target, 1 blocked');
  });

  it('plan-drain of an unknown node exits 1 with a clear error', async () => {
    const run = await capture(() => planDrainCommand([`no-such-node-${id}`, ...common]));
    expect(run.code).to.equal(1);
    expect(run.stderr).to.include(`node no-such-node-${id} not found`);
  });

  it('explain lists every node with its verdict and reason', async () => {
    const run = await capture(() => explainCommand([`${ns}/vm-a`, '-o', 'json', ...common]));
    expect(run.code).to.equal(0);
    const r = JSON.parse(run.stdout) as { target: string; verifiedBy: string; nodes: { node: string; verdict: string; message: string }[] };
    expect([t1, t2]).to.include(r.target);
    expect(r.verifiedBy).to.equal('cache');
    const byNode = new Map(r.nodes.map((n) => [n.node, n]));
    expect(byNode.get(bad)).to.deep.include({ verdict: 'Incompatible' });
    expect(byNode.get(bad)!.message).to.include(REJECT_REASON);
    expect(byNode.get(mixed)).to.deep.include({ verdict: 'Incompatible', message: `1 of 2 free nvidia-1012 devices incompatible: pool mixed; ${REJECT_REASON}` });
    expect(byNode.get(t1)!.verdict).to.equal('Compatible');
    expect(byNode.has(src)).to.equal(false);
  });

  it('--context selects the named context, not the current one; a context the kubeconfig lacks exits 2 naming the available ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubectl-context-'));
    try {
      const { path, good } = kubeconfigWithTwoContexts(dir);
      const flags = ['-o', 'json', '--operator-namespace', opNs, '--kubeconfig', path];
      const chosen = await capture(() => runCli(PLUGIN_COMMANDS, ['plan-drain', src, ...flags, '--context', good], 'kubectl mdev'));
      expect(chosen.code, chosen.stderr).to.equal(0);
      expect((JSON.parse(chosen.stdout) as DrainPlan).summary).to.deep.equal({ withTarget: 2, blocked: 1 });
      const current = await capture(() => runCli(PLUGIN_COMMANDS, ['plan-drain', src, ...flags], 'kubectl mdev'));
      expect(current.code, 'without --context the current-context (nowhere) is used').to.equal(1);
      expect(current.stderr).to.contain('ECONNREFUSED 127.0.0.1:1');
      const unknown = await capture(() => runCli(PLUGIN_COMMANDS, ['explain', `${ns}/vm-a`, ...flags, '--context=prod'], 'kubectl mdev'));
      expect(unknown.code).to.equal(2);
      expect(unknown.stderr).to.contain(`kubectl mdev explain: --context prod: no context named "prod" in --kubeconfig ${path}; available contexts: ${good}, nowhere`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs as a kubectl plugin: `kubectl mdev plan-drain` and `kubectl mdev explain` with kubectl\'s KUBECONFIG, and its --context', async () => {
    // What `npm install -g` does with package.json's bin: an executable named kubectl-mdev on PATH.
    const dir = mkdtempSync(join(tmpdir(), 'kubectl-plugin-'));
    try {
      symlinkSync(join(REPO_ROOT, 'bin/kubectl-mdev.js'), join(dir, 'kubectl-mdev'));
      const env = { ...process.env, PATH: [dir, dirname(process.execPath), process.env.PATH].join(delimiter), KUBECONFIG: testKubeconfigPath() };
      const exec = promisify(execFile);
      const plugins = await exec('kubectl', ['plugin', 'list'], { env }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
      expect(plugins.stdout).to.contain(join(dir, 'kubectl-mdev'));
      const plan = JSON.parse((await exec('kubectl', ['mdev', 'plan-drain', src, '-o', 'json', '--operator-namespace', opNs], { env })).stdout) as DrainPlan;
      expect(plan.node).to.equal(src);
      expect(plan.summary).to.deep.include({ withTarget: 2, blocked: 1 });
      const explained = JSON.parse((await exec('kubectl', ['mdev', 'explain', `${ns}/vm-a`, '-o', 'json', '--operator-namespace', opNs], { env })).stdout) as { target: string };
      expect([t1, t2]).to.include(explained.target);
      // -n names the VMI's namespace, as it does for kubectl get.
      const byFlag = JSON.parse((await exec('kubectl', ['mdev', 'explain', 'vm-a', '-n', ns, '-o', 'json', '--operator-namespace', opNs], { env })).stdout) as { vmi: string; target: string };
      expect(byFlag).to.deep.include({ vmi: `${ns}/vm-a`, target: explained.target });
      const noNamespace = await exec('kubectl', ['mdev', 'plan-drain', src, '-n', ns], { env }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
      expect(noNamespace.code).to.equal(2);
      expect(noNamespace.stderr).to.contain(`-n/--namespace ${ns}: a node has no namespace`);
      // kubectl hands the plugin its flags verbatim: --context after the VMI reaches kubectl-mdev.
      const { path, good } = kubeconfigWithTwoContexts(dir);
      const twoEnv = { ...env, KUBECONFIG: path };
      const viaContext = JSON.parse((await exec('kubectl', ['mdev', 'explain', `${ns}/vm-a`, '--context', good, '-o', 'json', '--operator-namespace', opNs], { env: twoEnv })).stdout) as { target: string };
      expect([t1, t2]).to.include(viaContext.target);
      const refused = await exec('kubectl', ['mdev', 'plan-drain', src, '--context', 'prod'], { env: twoEnv }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
      expect(refused.code).to.equal(2);
      expect(refused.stderr).to.contain(`no context named "prod" in KUBECONFIG=${path}; available contexts: ${good}, nowhere`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
